from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.risk.models import RiskSettings
from apps.risk.validation import (
    DEFAULT_BREAKER_TIERS,
    DEFAULT_VOLATILITY_BANDS,
    RiskSettingsError,
    validate_breaker_tiers,
    validate_volatility_bands,
)
from tests.factories import make_bot


def test_default_risk_json_with_validation_passes_unchanged_in_meaning() -> None:
    tiers = validate_breaker_tiers(DEFAULT_BREAKER_TIERS)
    assert [t["action"] for t in tiers] == ["warn", "reduce_size", "halt", "flatten"]
    assert validate_volatility_bands(DEFAULT_VOLATILITY_BANDS)[-1]["max_score"] == "100"


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ("x", "must be a JSON list"),
        ([{"window_minutes": 0, "loss_limit": 1, "action": "warn"}], "window_minutes must be"),
        (
            [{"window_minutes": 5, "loss_limit": -1, "action": "warn"}],
            "loss_limit must be positive",
        ),
        (
            [{"window_minutes": 5, "loss_limit": "x", "action": "warn"}],
            "loss_limit must be a number",
        ),
        ([{"window_minutes": 5, "loss_limit": 1, "action": "panic"}], "action must be one of"),
        (
            [
                {"name": "a", "window_minutes": 5, "loss_limit": 1, "action": "warn"},
                {"name": "a", "window_minutes": 9, "loss_limit": 2, "action": "halt"},
            ],
            "the name 'a' is used twice",
        ),
        (
            [{"window_minutes": 5, "loss_limit": 1, "action": "reduce_size", "size_multiplier": 2}],
            "size_multiplier must be between 0 and 1",
        ),
    ],
)
def test_breaker_tiers_with_bad_input_raise_one_line(tiers, message) -> None:
    with pytest.raises(RiskSettingsError, match=message):
        validate_breaker_tiers(tiers)


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ([], "non-empty"),
        ([{"max_score": 50, "size_multiplier": 1}], "must reach max_score 100"),
        ([{"max_score": 100, "size_multiplier": 2}], "size_multiplier must be in"),
        ([{"max_score": 100}], "must be"),
    ],
)
def test_volatility_bands_with_bad_input_raise_one_line(bands, message) -> None:
    with pytest.raises(RiskSettingsError, match=message):
        validate_volatility_bands(bands)


@pytest.mark.django_db
def test_risk_settings_full_clean_with_bad_tiers_reports_field_error() -> None:
    settings = RiskSettings(bot=make_bot(), breaker_tiers=[{"window_minutes": 5}])
    with pytest.raises(ValidationError) as info:
        settings.full_clean()
    assert "breaker_tiers" in info.value.message_dict
