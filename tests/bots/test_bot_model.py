from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.bots.models import Bot
from apps.bots.services import BotStateError, bot_halt, bot_pause, bot_resume
from apps.exchange.models import ExchangeAccount
from tests.factories import make_bot

pytestmark = pytest.mark.django_db


def test_bot_clean_with_unknown_symbol_names_it() -> None:
    bot = make_bot()
    bot.symbols = ["BTCUSDT", "FOOUSDT"]
    with pytest.raises(ValidationError) as info:
        bot.full_clean()
    assert "unknown symbol(s): FOOUSDT" in info.value.message_dict["symbols"][0]


def test_bot_clean_with_leverage_above_instrument_max_refuses() -> None:
    bot = make_bot()
    bot.symbols = ["DOGEUSDT"]
    bot.leverage = 100
    with pytest.raises(ValidationError) as info:
        bot.full_clean()
    assert "exceeds the maximum of DOGEUSDT (75)" in info.value.message_dict["leverage"][0]


def test_bot_clean_with_lowercase_symbols_normalises_them() -> None:
    bot = make_bot()
    bot.symbols = [" ethusdt", "btcusdt"]
    bot.full_clean()
    assert bot.symbols == ["ETHUSDT", "BTCUSDT"]


def test_bot_clean_with_live_mode_on_paper_account_refuses() -> None:
    bot = make_bot()
    bot.trading_mode = Bot.TradingMode.LIVE
    assert bot.account.environment == ExchangeAccount.Environment.PAPER
    with pytest.raises(ValidationError) as info:
        bot.full_clean()
    assert "needs a testnet or live account" in info.value.message_dict["trading_mode"][0]


def test_bot_services_with_state_changes_record_reason_and_time() -> None:
    bot = make_bot(state=Bot.State.RUNNING)
    bot = bot_halt(bot=bot, reason="circuit breaker tier 'day' tripped")
    assert bot.state == Bot.State.HALTED and bot.state_changed_at is not None
    assert "tier 'day'" in bot.state_reason
    bot = bot_pause(bot=bot)
    assert bot.state == Bot.State.PAUSED
    bot = bot_resume(bot=bot)
    assert bot.state == Bot.State.RUNNING and bot.state_reason == ""
    with pytest.raises(BotStateError):
        bot_halt(bot=bot, reason="")
