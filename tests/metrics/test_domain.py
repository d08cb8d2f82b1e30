"""The pure rules: who may read the metrics, bounded labels, the drawdown figure."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.metrics.domain.access import AccessConfigError, MetricsAccess, Verdict, parse_networks
from apps.metrics.domain.drawdown import drawdown_ratio
from apps.metrics.domain.labels import OTHER, label


def test_access_with_nothing_configured_is_disabled_for_everyone() -> None:
    access = MetricsAccess()
    assert access.check(authorization="Bearer x", remote_addr="127.0.0.1") is Verdict.DISABLED


@pytest.mark.parametrize(
    ("authorization", "verdict"),
    [
        ("Bearer s3cret-token", Verdict.ALLOWED),
        ("bearer s3cret-token", Verdict.ALLOWED),
        ("Bearer wrong", Verdict.UNAUTHORIZED),
        ("Basic s3cret-token", Verdict.UNAUTHORIZED),
        ("", Verdict.UNAUTHORIZED),
    ],
)
def test_access_with_token_checks_the_bearer_header(authorization: str, verdict: Verdict) -> None:
    access = MetricsAccess(token="s3cret-token")
    assert access.check(authorization=authorization, remote_addr="10.0.0.9") is verdict


def test_access_with_allowlist_checks_the_source_address() -> None:
    access = MetricsAccess(networks=parse_networks(["10.0.0.0/8", "::1"]))
    assert access.check(authorization="", remote_addr="10.1.2.3") is Verdict.ALLOWED
    assert access.check(authorization="", remote_addr="::ffff:10.1.2.3") is Verdict.ALLOWED
    assert access.check(authorization="", remote_addr="::1") is Verdict.ALLOWED
    assert access.check(authorization="", remote_addr="192.168.1.1") is Verdict.FORBIDDEN
    assert access.check(authorization="", remote_addr="not-an-ip") is Verdict.FORBIDDEN


def test_access_with_token_and_allowlist_needs_both() -> None:
    access = MetricsAccess(token="t", networks=parse_networks(["127.0.0.1"]))
    assert access.check(authorization="Bearer t", remote_addr="127.0.0.1") is Verdict.ALLOWED
    assert access.check(authorization="Bearer t", remote_addr="10.0.0.1") is Verdict.FORBIDDEN
    assert access.check(authorization="", remote_addr="127.0.0.1") is Verdict.UNAUTHORIZED


def test_parse_networks_with_bad_entry_names_it() -> None:
    with pytest.raises(AccessConfigError, match=r"'10\.0\.0\.300'"):
        parse_networks(["10.0.0.0/8", "10.0.0.300"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("BTCUSDT", "BTCUSDT"),
        (-2019, "-2019"),
        (None, "none"),
        ("", "none"),
        ("risk gate said: no entry today", OTHER),
        ("x" * 65, OTHER),
    ],
)
def test_label_keeps_identifiers_and_cuts_free_text(value: object, expected: str) -> None:
    assert label(value) == expected


def test_drawdown_is_fall_from_peak_over_starting_equity() -> None:
    closed = [D("100"), D("-30"), D("50"), D("-80")]  # cumulative 100, 70, 120, 40: peak 120
    assert drawdown_ratio(start=D("1000"), closed_nets=closed, open_pnl=D("-20")) == D("0.1")
    assert drawdown_ratio(start=D("1000"), closed_nets=closed, open_pnl=D("200")) == 0  # new peak
    assert drawdown_ratio(start=D("0"), closed_nets=closed, open_pnl=D("0")) == 0


@given(st.lists(st.decimals(-1000, 1000, places=2), max_size=30), st.decimals(-500, 500, places=2))
def test_drawdown_is_never_negative(nets: list[D], open_pnl: D) -> None:
    assert drawdown_ratio(start=D("10000"), closed_nets=nets, open_pnl=open_pnl) >= 0
