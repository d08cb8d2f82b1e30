"""The AI in a bot's cycle: HybridAI as the ``filter`` (the ``ai_filter`` hook) or the ``driver``
(the strategy kind ``ai``), and the record of what it said (``AiDecision``).

A bot whose model is missing or tampered is paused with the reason (``ArtifactError``), never
traded without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from apps.ai.domain.hybrid import AiOpinion, filter_allows
from apps.ai.domain.types import AiAction
from apps.ai.models import AiDecision, BotAi
from apps.ai.services import BotAiSetup, bot_hybrid
from apps.bots.models import Bot
from apps.events import publish_event
from apps.strategies.domain.ai_driver import AiDriverStrategy, AiFilteredStrategy
from apps.strategies.domain.base import Action, CandleArrays, Decision, Strategy
from apps.trading.domain.cycle import CycleConfig


@dataclass
class AiFilterTrace:
    """The filter's verdicts in one cycle (it is asked only about entries)."""

    setup: BotAiSetup
    verdicts: list[tuple[AiOpinion, float, bool]] = field(default_factory=list)

    def __call__(self, decision: Decision, candles: CandleArrays) -> bool:
        started = time.perf_counter()
        opinion = self.setup.hybrid.opinion(candles)
        latency = (time.perf_counter() - started) * 1000.0
        allowed = filter_allows(opinion, long=decision.action is Action.ENTER_LONG)
        self.verdicts.append((opinion, latency, allowed))
        return allowed


def bot_ai_setup(bot: Bot) -> BotAiSetup | None:
    """The bot's AI (None without a role); raise ``ArtifactError`` when its model is unusable."""
    return bot_hybrid(bot)


def with_ai(config: CycleConfig, setup: BotAiSetup | None) -> tuple[CycleConfig, Any]:
    """The cycle's configuration with the bot's AI in its role; return it with the object to
    ask afterwards what the AI said (the filter's trace, or the driver strategy)."""
    if setup is None:
        return config, None
    if setup.settings.role == BotAi.Role.FILTER:
        trace = AiFilterTrace(setup)
        return replace(config, ai_filter=trace), trace
    return config, config.strategy


def ai_strategy_for(kind: str, setup: BotAiSetup | None) -> Any:
    """What ``build_strategy`` needs for the bot's kind: the HybridAI of a driver bot."""
    if kind == AiDriverStrategy.kind and setup is not None:
        return setup.hybrid
    return None


def ai_record(
    *,
    bot: Bot,
    setup: BotAiSetup | None,
    asked: Any,
    symbol: str,
    candle_open_time: int,
    at: datetime,
) -> AiDecision | None:
    """Record what the AI said in this cycle, if it was asked."""
    if setup is None or asked is None:
        return None
    common = {
        "bot": bot,
        "symbol": symbol,
        "candle_open_time": candle_open_time,
        "role": setup.settings.role,
        "mode": setup.settings.mode,
        "at": at,
    }
    if isinstance(asked, AiFilterTrace):
        if not asked.verdicts:
            return None
        opinion, latency, allowed = asked.verdicts[-1]
        decision = AiDecision.objects.create(
            **common,
            action=AiAction(opinion.action).name,
            confidence=opinion.confidence,
            latency_ms=latency,
            used=opinion.confident,
            outcome=AiDecision.Outcome.CONFIRMED if allowed else AiDecision.Outcome.VETOED,
        )
    else:
        last = getattr(asked, "last_opinion", None)
        if last is None or not isinstance(asked, AiDriverStrategy | AiFilteredStrategy | Strategy):
            return None
        decision = AiDecision.objects.create(
            **common,
            action=AiAction(last.action).name,
            confidence=last.confidence,
            latency_ms=last.latency_ms,
            used=last.confident,
            outcome=AiDecision.Outcome.DECIDED if last.confident else AiDecision.Outcome.HELD,
        )
    if not bot.rehearsal:  # the dashboard's feed (after commit)
        publish_event(
            "ai_decision",
            {
                "bot": bot.name,
                "symbol": symbol,
                "action": decision.action,
                "confidence": round(decision.confidence, 4),
                "latency_ms": round(decision.latency_ms, 3),
                "used": decision.used,
                "outcome": decision.outcome,
                "at": at.isoformat(),
            },
        )
    return decision
