from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.strategies.domain.params import SCHEMAS, ParameterError, validate_parameters
from apps.strategies.models import Strategy


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_validate_parameters_with_empty_input_returns_defaults(kind: str) -> None:
    assert validate_parameters(kind, {}) == SCHEMAS[kind].defaults()


def test_validate_parameters_with_strings_coerces_types() -> None:
    values = validate_parameters("ema_cross", {"fast": "9", "slow": 21.0, "sl": "0.015"})
    assert values["fast"] == 9 and isinstance(values["fast"], int)
    assert values["slow"] == 21 and values["sl"] == 0.015


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"fast": 30, "slow": 20}, "fast (30) must be smaller than slow (20)"),
        ({"fast": 0}, "fast must be >= 1, got 0"),
        ({"fast": 2.5}, "fast must be an integer, got 2.5"),
        ({"sl": "abc"}, "sl must be a number, got 'abc'"),
        ({"sl": True}, "sl must be a number, got True"),
        ({"tp": float("nan")}, "tp must be a number"),
        ({"speed": 3}, "unknown parameter(s) for ema_cross: speed"),
    ],
)
def test_validate_parameters_with_bad_value_raises_one_line(raw: dict, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        validate_parameters("ema_cross", raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_validate_parameters_with_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="unknown strategy kind 'martingale'"):
        validate_parameters("martingale", {})


@pytest.mark.django_db
def test_strategy_full_clean_with_bad_parameters_reports_field_error() -> None:
    strategy = Strategy(name="bad", kind="bollinger_scalp", parameters={"rsi_oversold": 80})
    with pytest.raises(ValidationError) as info:
        strategy.full_clean()
    assert info.value.message_dict == {"parameters": ["rsi_oversold must be below rsi_overbought"]}


@pytest.mark.django_db
def test_strategy_admin_with_bad_parameters_shows_error_and_saves_nothing(
    admin_client_logged,
) -> None:
    response = admin_client_logged.post(
        "/admin/strategies/strategy/add/",
        {
            "name": "x",
            "kind": "ema_cross",
            "mode": "SWING",
            "timeframe": "1h",
            "parameters": '{"fast": 50, "slow": 10}',
            "description": "",
        },
    )
    assert response.status_code == 200
    assert "fast (50) must be smaller than slow (10)" in response.content.decode()
    assert not Strategy.objects.filter(name="x").exists()
