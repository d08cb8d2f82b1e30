"""The Telegram bot's pure rules: command parsing, the flood gate, token masking, texts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.telegram.domain import messages
from apps.telegram.domain.commands import Command, Invalid, Name, parse
from apps.telegram.domain.flood import FloodGate, Verdict
from apps.telegram.domain.secrets import mask


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/status", Command(Name.STATUS)),
        ("  /Status@TP_test_bot ", Command(Name.STATUS)),
        ("/pause ema-btc", Command(Name.PAUSE, ("ema-btc",))),
        ("/killswitch", Command(Name.KILLSWITCH)),
        ("/killswitch ema-btc", Command(Name.KILLSWITCH, ("ema-btc",))),
        ("/confirm 012345", Command(Name.CONFIRM, ("012345",))),
        ("/start", Command(Name.HELP)),
        ("/status@another_bot", None),
        ("status please", None),
        ("", None),
    ],
)
def test_parse_with_valid_or_foreign_text(text: str, expected: Command | None) -> None:
    assert parse(text, bot_username="tp_test_bot") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/pause", "Usage: /pause BOT"),
        ("/resume a b", "Usage: /resume BOT"),
        ("/pause bad!name", "Not a bot name: bad!name"),
        ("/killswitch a b", "Usage: /killswitch [BOT]"),
        ("/confirm", "Usage: /confirm CODE"),
        ("/confirm abc", "Usage: /confirm CODE"),
        ("/sell everything", "Unknown command /sell"),
    ],
)
def test_parse_with_bad_command_gives_one_line_reason(text: str, reason: str) -> None:
    result = parse(text)
    assert isinstance(result, Invalid) and result.reason.startswith(reason)
    assert "\n" not in result.reason


def test_flood_gate_with_burst_allows_limit_then_one_notice_then_silence() -> None:
    gate = FloodGate(limit=2, window_s=60)
    verdicts = [gate.check(7, now) for now in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.NOTICE, Verdict.DROP, Verdict.DROP]
    assert gate.check(8, 4.0) == Verdict.ALLOW  # per chat
    assert gate.retry_in(7, 4.0) == pytest.approx(56.0)
    assert gate.check(7, 60.5) == Verdict.ALLOW  # the first one left the window
    assert gate.check(7, 60.6) == Verdict.NOTICE  # a new flood is told again


def test_flood_gate_with_zero_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FloodGate(limit=0)


@given(
    limit=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=60),
)
def test_flood_gate_never_allows_more_than_limit_in_any_window(limit: int, gaps) -> None:
    gate = FloodGate(limit=limit, window_s=60)
    now, allowed = 0.0, []
    for gap in gaps:
        now += gap
        if gate.check(1, now) == Verdict.ALLOW:
            allowed.append(now)
    for i, start in enumerate(allowed):
        assert sum(1 for t in allowed[i:] if t < start + 60) <= limit


def test_mask_with_token_in_text_hides_token_and_its_secret_half() -> None:
    token = "7012345678:AAH-secret-part-xyz"
    text = f"GET https://api.telegram.org/bot{token}/getMe; secret AAH-secret-part-xyz"
    masked = mask(text, token)
    assert token not in masked and "AAH-secret-part-xyz" not in masked
    assert masked.count("<token>") == 2
    assert mask("nothing here", "") == "nothing here"


def test_trade_closed_text_with_filters_prints_tick_step_and_signed_cents() -> None:
    view = messages.TradeView(
        bot="ema-btc",
        symbol="BTCUSDT",
        side="LONG",
        quantity=Decimal("0.004000000000"),
        entry_price=Decimal("108157.500000000000"),
        exit_price=Decimal("109001.23"),
        net_pnl=Decimal("1234.5678"),
        roi=Decimal("12.345678"),
        exit_reason="take_profit",
        tick=Decimal("0.1"),
        step=Decimal("0.001"),
    )
    assert messages.trade_closed(view) == (
        "Trade closed: ema-btc LONG 0.004 BTCUSDT 108157.5 -> 109001.2, PnL +1,234.57 USDT "
        "(ROI +12.35 %), take profit"
    )
    assert messages.trade_opened(view) == "Trade opened: ema-btc LONG 0.004 BTCUSDT @ 108157.5"


def test_texts_with_nothing_to_show_say_so() -> None:
    assert messages.positions([]) == "No open positions."
    assert messages.status([]) == "No bots."
    summary = messages.daily_summary(day=date(2026, 12, 5), lines=[], open_positions=0)
    assert summary.startswith("Daily summary 2026-12-05 (UTC): 0 trade(s) closed, 0 won, net 0.00")


def test_profit_text_with_losses_sums_all_bots() -> None:
    text = messages.profit(
        [
            messages.ProfitLine(
                "a", closed=4, wins=3, net_total=Decimal("10"), net_today=Decimal(0)
            ),
            messages.ProfitLine(
                "b", closed=1, wins=0, net_total=Decimal("-2.5"), net_today=Decimal("-2.5")
            ),
        ]
    )
    assert "a: total +10.00 USDT, today 0.00 USDT; 4 closed, win rate 75.0 %" in text
    assert "b: total -2.50 USDT" in text
    assert text.endswith("All: total +7.50 USDT, today -2.50 USDT; 5 closed, win rate 60.0 %")


def test_clip_keeps_messages_within_telegram_limit() -> None:
    assert len(messages.clip("x" * 5000)) == messages.MAX_LENGTH
