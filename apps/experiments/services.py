"""Writes of the experiments: build the variants' paper bots, start and stop them together,
promote a variant's settings to a live bot, compare two backtest runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.ai.models import BotAi
from apps.backtest.models import BacktestRun
from apps.bots.models import Bot
from apps.bots.services import BotStateError, bot_pause, bot_resume
from apps.exchange.models import ExchangeAccount
from apps.experiments.models import BacktestComparison, Experiment, Promotion, Variant
from apps.risk.models import RiskSettings
from apps.strategies.models import Strategy
from apps.trading.models import BotCycle, Trade

logger = logging.getLogger(__name__)

#: the bot fields a variant copies from the base bot as they are
COPIED_BOT_FIELDS = (
    "margin_type",
    "exit_levels",
    "break_even_after_first_exit",
    "trailing",
    "trailing_activation",
    "trailing_callback",
)
#: the AI settings a variant copies and a promotion carries over
AI_FIELDS = ("role", "mode", "min_confidence", "weight", "agent", "predictor", "ensemble")


class ExperimentError(ValueError):
    """The experiment cannot do what was asked; the message says why in one line."""


def _one_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return "; ".join(exc.messages)


def risk_fields() -> list[str]:
    """The risk settings a variant may change (every field of RiskSettings but its keys)."""
    return [
        f.name
        for f in RiskSettings._meta.concrete_fields
        if f.name not in ("id", "bot", "updated_at")
    ]


def _account_for(experiment: Experiment) -> ExchangeAccount:
    name = f"experiment-{experiment.name}"
    account = experiment.account
    if account is None:
        account, _ = ExchangeAccount.objects.get_or_create(
            name=name,
            defaults={
                "environment": ExchangeAccount.Environment.PAPER,
                "paper_starting_balance": experiment.capital,
                "notes": f"Paper account of experiment {experiment.name} (each variant bot "
                "trades its own simulated sub-account with this balance).",
            },
        )
        if account.environment != ExchangeAccount.Environment.PAPER:
            raise ExperimentError(f"account {name} exists and is not a paper account")
        Experiment.objects.filter(pk=experiment.pk).update(account=account)
        experiment.account = account
    if account.paper_starting_balance != experiment.capital:
        account.paper_starting_balance = experiment.capital
        account.save(update_fields=["paper_starting_balance", "updated_at"])
    return account


def _variant_strategy(experiment: Experiment, variant: Variant) -> Strategy:
    source = variant.strategy or experiment.base_bot.strategy
    if not variant.parameters:
        return source
    if not isinstance(variant.parameters, dict):
        raise ExperimentError(f"variant {variant.label}: parameters must be a JSON object")
    name = f"x-{experiment.name}-{variant.label}"
    strategy = Strategy.objects.filter(name=name).first() or Strategy(name=name)
    strategy.kind, strategy.mode, strategy.timeframe = source.kind, source.mode, source.timeframe
    strategy.parameters = {**source.parameters, **variant.parameters}
    strategy.description = (
        f"Variant {variant.label} of experiment {experiment.name}: {source.name} with "
        f"{variant.parameters}"
    )
    try:
        strategy.full_clean()
    except ValidationError as exc:
        raise ExperimentError(f"variant {variant.label}: {_one_line(exc)}") from exc
    strategy.save()
    return strategy


def _variant_risk(base: Bot, bot: Bot, variant: Variant) -> None:
    source = RiskSettings.objects.filter(bot=base).first() or RiskSettings()
    risk = RiskSettings.objects.filter(bot=bot).first() or RiskSettings(bot=bot)
    allowed = risk_fields()
    for name in allowed:
        setattr(risk, name, getattr(source, name))
    changes = variant.risk or {}
    if not isinstance(changes, dict):
        raise ExperimentError(f"variant {variant.label}: risk must be a JSON object")
    for name, value in changes.items():
        if name not in allowed:
            raise ExperimentError(
                f"variant {variant.label}: unknown risk setting {name!r} "
                f"(one of {', '.join(allowed)})"
            )
        setattr(risk, name, value)
    try:
        risk.full_clean()
    except ValidationError as exc:
        raise ExperimentError(f"variant {variant.label} risk: {_one_line(exc)}") from exc
    risk.save()


def _variant_ai(base: Bot, bot: Bot, variant: Variant) -> None:
    source = BotAi.objects.filter(bot=base).first()
    if source is None or source.role == BotAi.Role.NONE:
        if variant.ai_mode:
            raise ExperimentError(
                f"variant {variant.label}: the base bot {base.name} uses no AI, so there is no "
                "AI role or model to run in another mode (set the base bot's AI first)"
            )
        BotAi.objects.filter(bot=bot).delete()
        return
    ai = BotAi.objects.filter(bot=bot).first() or BotAi(bot=bot)
    for name in AI_FIELDS:
        setattr(ai, name, getattr(source, name))
    if variant.ai_mode:
        ai.mode = variant.ai_mode
    ai.retrain_every_days, ai.auto_promote = 0, False  # the variant measures, it never re-trains
    try:
        ai.full_clean()
    except ValidationError as exc:
        raise ExperimentError(f"variant {variant.label} AI: {_one_line(exc)}") from exc
    ai.save()


def experiment_variants_build(*, experiment: Experiment) -> list[Variant]:
    """Make (or bring up to date) each variant's paper bot: the base bot's settings with the
    variant's changes, on the experiment's paper account, paused. Only while a draft.

    Raise ExperimentError naming the variant and the problem; nothing is changed then.
    """
    if experiment.status != Experiment.Status.DRAFT:
        raise ExperimentError(
            f"experiment {experiment.name} is {experiment.status}: its variants are fixed"
        )
    with transaction.atomic():
        base = Bot.objects.select_related("strategy").get(pk=experiment.base_bot_id)
        account = _account_for(experiment)
        variants = list(experiment.variants.select_related("strategy", "bot"))
        for variant in variants:
            name = f"{experiment.name}-{variant.label}".lower()
            bot = variant.bot
            if bot is None:
                if Bot.objects.filter(name=name).exists():
                    raise ExperimentError(f"variant {variant.label}: a bot named {name} exists")
                bot = Bot(name=name)
            bot.account = account
            bot.strategy = _variant_strategy(experiment, variant)
            bot.symbols = experiment.trading_symbols()
            bot.leverage = variant.leverage or base.leverage
            for attr in COPIED_BOT_FIELDS:
                setattr(bot, attr, getattr(base, attr))
            bot.trading_mode = Bot.TradingMode.PAPER
            bot.enabled = True
            if bot.pk is None:
                bot.state, bot.state_cause = Bot.State.PAUSED, Bot.Cause.OPERATOR
                bot.state_reason = f"variant of experiment {experiment.name} (not started)"
            try:
                bot.full_clean(exclude=["webhook_secret_hash"])
            except ValidationError as exc:
                raise ExperimentError(f"variant {variant.label}: {_one_line(exc)}") from exc
            bot.save()
            _variant_risk(base, bot, variant)
            _variant_ai(base, bot, variant)
            if variant.bot_id != bot.pk:
                variant.bot = bot
                variant.save(update_fields=["bot"])
    return variants


def experiment_start(*, experiment: Experiment, actor: str, now: datetime) -> Experiment:
    """Start every variant's bot in one transaction, at ``now`` (the period's start).

    Raise ExperimentError when the experiment is not a draft, has fewer than two variants, or
    a variant's bot has traded already (its period would not be the experiment's).
    """
    with transaction.atomic():
        locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if locked.status != Experiment.Status.DRAFT:
            raise ExperimentError(
                f"experiment {locked.name} is {locked.status}; only a draft can be started"
            )
        variants = experiment_variants_build(experiment=locked)
        if len(variants) < 2:
            raise ExperimentError(
                f"experiment {locked.name} has {len(variants)} variant(s); at least 2 are needed"
            )
        bots = [v.bot for v in variants if v.bot is not None]
        used = [
            b.name
            for b in bots
            if BotCycle.objects.filter(bot=b).exists() or Trade.objects.filter(bot=b).exists()
        ]
        if used:
            raise ExperimentError(
                f"variant bot(s) {', '.join(used)} ran before the start; their periods would "
                "not match (make a new experiment)"
            )
        for bot in bots:
            try:
                bot_resume(bot=bot)
            except BotStateError as exc:
                raise ExperimentError(str(exc)) from exc
        locked.status, locked.started_at, locked.started_by = (
            Experiment.Status.RUNNING,
            now,
            actor[:150],
        )
        locked.save(update_fields=["status", "started_at", "started_by"])
    logger.info("experiment %s started by %s at %s", locked.name, actor, now.isoformat())
    return locked


def experiment_stop(*, experiment: Experiment, actor: str, now: datetime) -> Experiment:
    """Pause every variant's bot and close the period at ``now``. Raise ExperimentError when
    the experiment is not running."""
    with transaction.atomic():
        locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if locked.status != Experiment.Status.RUNNING:
            raise ExperimentError(f"experiment {locked.name} is {locked.status}, not running")
        for variant in locked.variants.select_related("bot"):
            if variant.bot is not None:
                bot_pause(
                    bot=variant.bot,
                    reason=f"experiment {locked.name} stopped by {actor}",
                    cause=Bot.Cause.OPERATOR,
                )
        locked.status, locked.stopped_at, locked.stopped_by = (
            Experiment.Status.STOPPED,
            now,
            actor[:150],
        )
        locked.save(update_fields=["status", "stopped_at", "stopped_by"])
    logger.info("experiment %s stopped by %s at %s", locked.name, actor, now.isoformat())
    return locked


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value


def bot_settings_snapshot(bot: Bot) -> dict[str, Any]:
    """What a promotion changes on a bot: strategy, leverage, risk settings, AI settings."""
    strategy = bot.strategy
    risk = RiskSettings.objects.filter(bot=bot).first()
    ai = BotAi.objects.filter(bot=bot).first()
    return {
        "strategy": {
            "name": strategy.name,
            "kind": strategy.kind,
            "mode": strategy.mode,
            "timeframe": strategy.timeframe,
            "parameters": strategy.parameters,
        },
        "leverage": bot.leverage,
        "risk": None if risk is None else {n: _plain(getattr(risk, n)) for n in risk_fields()},
        "ai": None
        if ai is None
        else {
            n: _plain(getattr(ai, f"{n}_id" if n in ("agent", "predictor", "ensemble") else n))
            for n in AI_FIELDS
        },
    }


@dataclass(frozen=True, slots=True)
class PromotionPlan:
    """What a promotion would change, for the confirmation page."""

    variant: Variant
    bot: Bot
    before: dict[str, Any]
    after: dict[str, Any]
    changes: list[str] = field(default_factory=list)


def promotion_plan(*, variant: Variant, bot: Bot) -> PromotionPlan:
    """Check a promotion and describe it (raise ExperimentError when it cannot be done)."""
    experiment = Experiment.objects.get(pk=variant.experiment_id)  # its status now
    if experiment.status == Experiment.Status.DRAFT:
        raise ExperimentError(f"experiment {experiment.name} has not run: nothing to promote")
    if variant.bot is None:
        raise ExperimentError(f"variant {variant.label} has no bot")
    if bot.trading_mode != Bot.TradingMode.LIVE:
        raise ExperimentError(f"bot {bot.name} is not a live bot; promote to a live bot")
    if Variant.objects.filter(bot=bot).exists():
        raise ExperimentError(f"bot {bot.name} is an experiment's variant, not a live bot")
    before = bot_settings_snapshot(bot)
    after = bot_settings_snapshot(variant.bot)
    changes = [k for k in before if before[k] != after[k]]
    if before["strategy"]["name"] != after["strategy"]["name"]:
        # the bot gets its own copy; the name differs by design, so compare the content only
        same = {k: v for k, v in before["strategy"].items() if k != "name"} == {
            k: v for k, v in after["strategy"].items() if k != "name"
        }
        if same:
            changes = [c for c in changes if c != "strategy"]
    return PromotionPlan(variant=variant, bot=bot, before=before, after=after, changes=changes)


def _promoted_strategy_name(bot: Bot, variant: Variant) -> str:
    stem = f"{bot.name[:24]}-{variant.experiment.name[:24]}-{variant.label}"
    n = Promotion.objects.filter(bot=bot).count() + 1
    while Strategy.objects.filter(name=f"{stem}-{n}").exists():
        n += 1
    return f"{stem}-{n}"


def variant_promote(*, variant: Variant, bot: Bot, actor: str, verdict: str = "") -> Promotion:
    """Copy the variant's strategy (as the bot's own new strategy row), leverage, risk and AI
    settings to the live ``bot``, in one transaction, recorded with ``actor``.

    Raise ExperimentError when the promotion is not possible or the bot refuses the settings
    (nothing is changed then).
    """
    plan = promotion_plan(variant=variant, bot=bot)
    source = variant.bot
    assert source is not None  # checked by the plan
    with transaction.atomic():
        live = Bot.objects.select_for_update().select_related("strategy").get(pk=bot.pk)
        strategy = Strategy.objects.create(
            name=_promoted_strategy_name(live, variant),
            kind=source.strategy.kind,
            mode=source.strategy.mode,
            timeframe=source.strategy.timeframe,
            parameters=dict(source.strategy.parameters),
            description=f"Promoted from variant {variant.label} of experiment "
            f"{variant.experiment.name} by {actor}.",
        )
        live.strategy = strategy
        live.leverage = source.leverage
        try:
            live.full_clean(exclude=["webhook_secret_hash"])
        except ValidationError as exc:
            raise ExperimentError(f"bot {live.name}: {_one_line(exc)}") from exc
        live.save(update_fields=["strategy", "leverage", "updated_at"])
        source_risk = RiskSettings.objects.filter(bot=source).first()
        if source_risk is not None:
            risk = RiskSettings.objects.filter(bot=live).first() or RiskSettings(bot=live)
            for name in risk_fields():
                setattr(risk, name, getattr(source_risk, name))
            risk.save()
        source_ai = BotAi.objects.filter(bot=source).first()
        live_ai = BotAi.objects.filter(bot=live).first()
        if source_ai is not None or live_ai is not None:
            ai = live_ai or BotAi(bot=live)
            if source_ai is None:
                ai.role = BotAi.Role.NONE
            else:
                for name in AI_FIELDS:
                    setattr(ai, name, getattr(source_ai, name))
            try:
                ai.full_clean()
            except ValidationError as exc:
                raise ExperimentError(f"bot {live.name} AI: {_one_line(exc)}") from exc
            ai.save()
        promotion = Promotion.objects.create(
            experiment=variant.experiment,
            variant=variant,
            bot=live,
            strategy=strategy,
            decided_by=actor[:150],
            verdict=verdict[:255],
            before=plan.before,
            after=bot_settings_snapshot(live),
        )
    logger.info(
        "experiment %s: variant %s promoted to bot %s by %s",
        variant.experiment.name,
        variant.label,
        live.name,
        actor,
    )
    return promotion


def backtest_comparison_create(
    *,
    run_a: BacktestRun,
    run_b: BacktestRun,
    confidence: Decimal = Decimal("0.95"),
    resamples: int = 2000,
    seed: int = 0,
    user: Any = None,
) -> BacktestComparison:
    """Compare two finished backtest runs and store the result (raise ReportError)."""
    from apps.experiments.selectors import backtest_runs_compare

    result = backtest_runs_compare(
        run_a=run_a, run_b=run_b, confidence=confidence, resamples=resamples, seed=seed
    )
    return BacktestComparison.objects.create(
        run_a=run_a,
        run_b=run_b,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        result=result,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
