"""The Grafana dashboards and the alert rules ask only for metrics the platform really exports:
the names come from a real scrape of ``/metrics`` (every family is listed, with or without
samples), not from a list kept by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
RULES = REPO / "deploy" / "prometheus" / "rules"
TOKEN = "dashboards-test-token"
PROMETHEUS_OWN = {"up"}  # series Prometheus writes itself for every target
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(promql: str) -> set[str]:
    """The metric names a PromQL expression reads (functions and keywords included; callers
    keep the names of interest)."""
    text = _STRING.sub("", promql)
    text = _MATCHERS.sub("", text)
    text = _GROUPING.sub("", text)
    text = _RANGE.sub("", text)
    return set(_NAME.findall(text))


@pytest.fixture
def exported(client, settings, fresh_state) -> set[str]:
    settings.METRICS_TOKEN = TOKEN
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    names = set()
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        base = family.removesuffix("_total") if kind == "counter" else family
        names.update(base + suffix for suffix in SUFFIXES.get(kind, ("",)))
    assert "tradingplatform_bot_equity_usdt" in names  # the state gauges are in the scrape
    return names


def _panels(board: dict) -> list[dict]:
    out = []
    for panel in board.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows
    return out


def test_metric_names_reads_names_not_labels_or_functions() -> None:
    expr = 'sum by (le, bot) (rate(tradingplatform_x_bucket{bot=~"$bot"}[5m]))'
    names = metric_names(f"histogram_quantile(0.95, {expr})")
    assert {n for n in names if n.startswith("tradingplatform_")} == {"tradingplatform_x_bucket"}


def test_dashboards_cover_the_five_views_with_unique_uids() -> None:
    boards = {path.stem: json.loads(path.read_text()) for path in DASHBOARDS.glob("*.json")}
    assert {"overview", "bot", "exchange", "webhook", "workers"} <= set(boards)
    uids = [board["uid"] for board in boards.values()]
    assert len(uids) == len(set(uids))
    for name, board in boards.items():
        assert _panels(board), name
        for panel in _panels(board):
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), (
                name,
                panel["title"],
            )
            assert panel["datasource"]["uid"] == "prometheus"


@pytest.mark.django_db
def test_every_panel_and_variable_queries_metrics_the_platform_exports(exported) -> None:
    unknown = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        queries = [
            (panel["title"], target["expr"])
            for panel in _panels(board)
            for target in panel["targets"]
        ]
        queries += [(f"variable {v['name']}", v["definition"]) for v in board["templating"]["list"]]
        for title, expr in queries:
            names = {n for n in metric_names(expr) if n.startswith("tradingplatform_")}
            names |= metric_names(expr) & PROMETHEUS_OWN
            assert names, f"{path.name} {title}: no platform metric in {expr!r}"
            unknown += [f"{path.name} {title}: {n}" for n in names - exported - PROMETHEUS_OWN]
    assert not unknown, unknown


@pytest.mark.django_db
def test_every_alert_rule_reads_metrics_the_platform_exports(exported) -> None:
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                names = {n for n in metric_names(rule["expr"]) if n.startswith("tradingplatform_")}
                assert names or metric_names(rule["expr"]) & PROMETHEUS_OWN, rule["alert"]
                assert names <= exported, (rule["alert"], names - exported)
