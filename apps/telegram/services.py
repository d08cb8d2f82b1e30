"""Writes of the Telegram app: commands from chats (through the same services as the admin),
notices in the outbox, and their delivery to the notification channels.

Commands
    Only chats in ``TelegramBot.allowed_chat_ids`` are heard; any other chat gets no answer and
    nothing is stored. Each allowed chat may send ``commands_per_minute`` commands in any minute;
    the first one over gets a notice, the rest of the flood is ignored. Pause and resume call
    ``apps.bots.services``; the kill switch asks for ``/confirm CODE`` from the same chat within
    ``confirm_seconds`` and then calls ``apps.trading.engine.killswitch_engage``. The actor
    ``telegram:<chat id>/<username>`` goes into the bot's state reason (as the admin puts the
    user there) and every command is kept as a :class:`CommandRecord`.

Notices
    :func:`notice_record` writes an outbox row in the caller's transaction (so a rolled-back
    change tells nobody) when an enabled channel chose that event; :func:`notices_deliver` sends
    due rows over every channel that chose them (email, webhook, Telegram), retrying failures
    with back-off, each row claimed first so that two notifiers never send it twice.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F

from apps.bots.services import BotStateError, bot_pause, bot_resume
from apps.monitoring import notifications
from apps.monitoring.models import NotificationEvent
from apps.telegram.client import BotApi, TelegramError
from apps.telegram.domain import messages
from apps.telegram.domain.commands import Command, Invalid, Name, parse
from apps.telegram.domain.flood import FloodGate, Verdict
from apps.telegram.models import (
    CommandRecord,
    KillSwitchRequest,
    Notice,
    NoticeDelivery,
    TelegramBot,
)
from apps.telegram.selectors import (
    balance_lines,
    bot_by_name,
    bot_names,
    channels_for_event,
    day_lines,
    day_start_of,
    notices_due,
    position_lines,
    profit_lines,
    status_lines,
)

logger = logging.getLogger(__name__)

MAX_COMMAND_AGE_S = 120  # an older message (sent while no poller ran) is not obeyed
NOTICE_ATTEMPTS = 6
NOTICE_CLAIM_S = 120  # a claimed notice is another notifier's again after this
DAILY_SUMMARY_DELAY = timedelta(minutes=5)  # after 00:00 UTC, so late closes are counted
NOTICE_KEEP = timedelta(days=30)  # finished notices (and their deliveries) are kept this long

Outcome = CommandRecord.Outcome


# --- commands -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sender:
    chat_id: int
    username: str

    @property
    def actor(self) -> str:
        return f"telegram:{self.chat_id}/{self.username or '-'}"


@dataclass(frozen=True, slots=True)
class Incoming:
    """The parts of a Telegram update the bot acts on."""

    update_id: int
    sender: Sender
    text: str
    sent_at: datetime | None


def incoming_of(update: dict[str, Any]) -> Incoming | None:
    """The message of `update`, or None for anything else (edits, joins, callbacks)."""
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
        return None
    user = message.get("from") or {}
    username = str(user.get("username") or user.get("first_name") or "")[:64]
    stamp = message.get("date")
    sent_at = datetime.fromtimestamp(int(stamp), tz=UTC) if isinstance(stamp, int) else None
    try:
        chat_id = int(message["chat"]["id"])
    except (KeyError, TypeError, ValueError):
        return None
    return Incoming(
        update_id=int(update.get("update_id", 0)),
        sender=Sender(chat_id=chat_id, username=username),
        text=str(message.get("text") or ""),
        sent_at=sent_at,
    )


def update_handle(
    *,
    update: dict[str, Any],
    config: TelegramBot,
    api: BotApi,
    gate: FloodGate,
    monotonic: float,
    now: datetime,
    market_now: datetime,
) -> str | None:
    """Act on one update; return the reply sent (None when nothing was said)."""
    incoming = incoming_of(update)
    if incoming is None:
        return None
    sender = incoming.sender
    if sender.chat_id not in config.allowed:
        logger.info("telegram: ignored a message from chat %s (not allowed)", sender.chat_id)
        return None
    parsed = parse(incoming.text, bot_username=config.username)
    if parsed is None:
        return None
    if incoming.sent_at is not None and (now - incoming.sent_at).total_seconds() > (
        MAX_COMMAND_AGE_S
    ):
        logger.warning(
            "telegram: not obeying %s from %s sent at %s (older than %d s)",
            incoming.text[:40],
            sender.actor,
            incoming.sent_at.isoformat(),
            MAX_COMMAND_AGE_S,
        )
        return None
    verdict = gate.check(sender.chat_id, monotonic)
    if verdict == Verdict.DROP:
        return None
    if verdict == Verdict.NOTICE:
        reply = messages.flood_notice(
            limit=gate.limit, retry_in=gate.retry_in(sender.chat_id, monotonic)
        )
        outcome = Outcome.FLOODED
    elif isinstance(parsed, Invalid):
        reply, outcome = parsed.reason, Outcome.REFUSED
    else:
        try:
            outcome, reply = _run(parsed, sender=sender, config=config, now=now, market=market_now)
        except Exception as exc:  # a bug or a failing service: tell the chat, keep polling
            logger.exception("telegram: %s from %s failed", parsed.name, sender.actor)
            outcome, reply = Outcome.FAILED, f"/{parsed.name} failed: {type(exc).__name__}"
    CommandRecord.objects.create(
        at=now,
        chat_id=sender.chat_id,
        username=sender.username,
        actor=sender.actor,
        text=incoming.text[:255],
        outcome=outcome,
        reply=reply,
    )
    try:
        api.send_message(chat_id=sender.chat_id, text=messages.clip(reply))
    except TelegramError as exc:
        logger.warning("telegram: could not answer %s: %s", sender.actor, exc)
    return reply


def _run(
    command: Command, *, sender: Sender, config: TelegramBot, now: datetime, market: datetime
) -> tuple[str, str]:
    name = command.name
    if name == Name.HELP:
        return Outcome.DONE, messages.help_text()
    if name == Name.STATUS:
        return Outcome.DONE, messages.status(status_lines(now=market))
    if name == Name.PROFIT:
        return Outcome.DONE, messages.profit(profit_lines(now=market))
    if name == Name.BALANCE:
        return Outcome.DONE, messages.balance(balance_lines(now=market))
    if name == Name.POSITIONS:
        return Outcome.DONE, messages.positions(position_lines())
    if name in (Name.PAUSE, Name.RESUME):
        return _pause_or_resume(command, sender=sender)
    if name == Name.KILLSWITCH:
        return _killswitch_ask(command, sender=sender, config=config, now=now)
    if name == Name.CONFIRM:
        return _killswitch_confirm(command, sender=sender, now=now, market=market)
    return Outcome.REFUSED, messages.help_text()  # pragma: no cover (every Name is handled)


def _unknown_bot(name: str) -> tuple[str, str]:
    return Outcome.REFUSED, f"Unknown bot: {name}. Bots: {', '.join(bot_names()) or 'none'}."


def _pause_or_resume(command: Command, *, sender: Sender) -> tuple[str, str]:
    name = command.bot or ""
    bot = bot_by_name(name)
    if bot is None:
        return _unknown_bot(name)
    if command.name == Name.PAUSE:
        bot_pause(bot=bot, reason=f"paused by {sender.actor}")
        logger.info("bot %s paused by %s", bot.name, sender.actor)
        return Outcome.DONE, f"Paused {bot.name}: no new orders; open positions keep their stops."
    try:
        bot_resume(bot=bot)
    except BotStateError as exc:
        return Outcome.REFUSED, str(exc)
    logger.info("bot %s resumed by %s", bot.name, sender.actor)
    return Outcome.DONE, f"Resumed {bot.name}."


def _killswitch_ask(
    command: Command, *, sender: Sender, config: TelegramBot, now: datetime
) -> tuple[str, str]:
    bots: list[str] = []
    if command.bot:
        if bot_by_name(command.bot) is None:
            return _unknown_bot(command.bot)
        bots = [command.bot]
    code = f"{secrets.randbelow(1_000_000):06d}"
    KillSwitchRequest.objects.create(
        chat_id=sender.chat_id,
        actor=sender.actor,
        bots=bots,
        code=code,
        created_at=now,
        expires_at=now + timedelta(seconds=config.confirm_seconds),
    )
    logger.warning("kill switch for %s asked by %s", ", ".join(bots) or "all bots", sender.actor)
    return Outcome.AWAITING, messages.killswitch_prompt(
        bots=bots, code=code, seconds=config.confirm_seconds
    )


def _killswitch_confirm(
    command: Command, *, sender: Sender, now: datetime, market: datetime
) -> tuple[str, str]:
    from apps.trading.engine import killswitch_engage

    code = command.args[0]
    request = (
        KillSwitchRequest.objects.filter(chat_id=sender.chat_id, code=code)
        .order_by("-created_at")
        .first()
    )
    if request is None or request.confirmed_at is not None:
        return Outcome.REFUSED, f"No kill switch is waiting for code {code} in this chat."
    if now > request.expires_at:
        return Outcome.REFUSED, f"Code {code} expired; send /killswitch again."
    taken = KillSwitchRequest.objects.filter(pk=request.pk, confirmed_at__isnull=True).update(
        confirmed_at=now
    )
    if not taken:  # confirmed twice at once: the first one runs it
        return Outcome.REFUSED, f"No kill switch is waiting for code {code} in this chat."
    logger.warning(
        "kill switch for %s confirmed by %s", ", ".join(request.bots) or "all bots", sender.actor
    )
    try:
        reports = killswitch_engage(
            reason=f"requested from Telegram ({sender.actor})",
            now=market,
            bot_names=list(request.bots) or None,
        )
    except ValueError as exc:
        return Outcome.REFUSED, f"Kill switch refused: {exc}"
    views = [
        messages.KillReport(
            bot=r.bot,
            orders_canceled=r.orders_canceled,
            positions_closed=r.positions_closed,
            open_orders_left=r.open_orders_left,
            open_positions_left=r.open_positions_left,
            error=r.error,
        )
        for r in reports
    ]
    return Outcome.DONE, messages.killswitch_done(views)


# --- notices ------------------------------------------------------------------------------------
def notice_record(
    *,
    kind: str,
    subject: str,
    text: str,
    dedup_key: str,
    bot_name: str = "",
    payload: dict[str, Any] | None = None,
    now: datetime,
) -> bool:
    """Put a notice in the outbox (in the caller's transaction) if an enabled channel chose
    `kind` and no notice with `dedup_key` exists; return whether one was written. Never raise:
    telling people about a change must not undo the change."""
    try:
        if not channels_for_event(kind=kind):
            return False
        with transaction.atomic():  # a savepoint: a failure here leaves the caller's work intact
            created = Notice.objects.bulk_create(
                [
                    Notice(
                        kind=kind,
                        bot_name=bot_name[:64],
                        subject=subject[:200],
                        text=messages.clip(text),
                        payload={"event": kind, "bot": bot_name, **(payload or {})},
                        dedup_key=dedup_key[:200],
                        created_at=now,
                        next_attempt_at=now,
                    )
                ],
                ignore_conflicts=True,
            )
        return bool(created)
    except Exception:
        logger.exception("could not record the %s notice %s", kind, dedup_key)
        return False


def _notification_of(notice: Notice, *, skip: frozenset[str]) -> notifications.Notification:
    payload = {**notice.payload, "text": notice.text, "at": notice.created_at.isoformat()}
    return notifications.Notification(
        subject=notice.subject,
        text=notice.text,
        payload=payload,
        chat_text=notice.text,
        skip_targets=skip,
    )


def notices_deliver(*, now: datetime, limit: int = 50) -> int:
    """Send the due notices; return how many were finished (sent everywhere or given up)."""
    finished = 0
    for notice in notices_due(now=now, limit=limit):
        claimed = Notice.objects.filter(
            pk=notice.pk, done_at__isnull=True, next_attempt_at=notice.next_attempt_at
        ).update(next_attempt_at=now + timedelta(seconds=NOTICE_CLAIM_S))
        if not claimed:
            continue  # another notifier has it
        if _notice_send(notice, now=now):
            finished += 1
    return finished


def _notice_send(notice: Notice, *, now: datetime) -> bool:
    sent: set[int | None] = set()
    reached: dict[int | None, set[str]] = {}
    for channel_id, status, targets in notice.deliveries.values_list(
        "channel_id", "status", "reached"
    ):
        if status == NoticeDelivery.Status.SENT:
            sent.add(channel_id)
        reached.setdefault(channel_id, set()).update(targets or [])
    errors: list[str] = []
    for channel in channels_for_event(kind=notice.kind):
        if channel.pk in sent:
            continue
        skip = frozenset(reached.get(channel.pk, set()))  # a retry never repeats a chat
        result = notifications.send(
            channel=channel, notification=_notification_of(notice, skip=skip)
        )
        NoticeDelivery.objects.create(
            notice=notice,
            channel=channel,
            channel_name=channel.name,
            status=NoticeDelivery.Status.SENT if result.ok else NoticeDelivery.Status.FAILED,
            attempts=result.attempts,
            error=result.error[:500],
            reached=list(result.reached),
            at=now,
        )
        if not result.ok:
            errors.append(f"{channel.name}: {result.error}")
    attempts = notice.attempts + 1
    done = not errors or attempts >= NOTICE_ATTEMPTS
    if errors:
        logger.warning("notice %s: %s", notice.dedup_key, "; ".join(errors)[:500])
    Notice.objects.filter(pk=notice.pk).update(
        attempts=F("attempts") + 1,
        last_error="; ".join(errors)[:500],
        done_at=now if done else None,
        next_attempt_at=now + timedelta(seconds=min(600, 5 * 2**attempts)),
    )
    return done


def notices_prune(*, now: datetime) -> int:
    """Delete notices finished more than ``NOTICE_KEEP`` ago (with their deliveries); return
    how many notices went."""
    _, by_model = Notice.objects.filter(done_at__lt=now - NOTICE_KEEP).delete()
    return int(by_model.get(Notice._meta.label, 0))


def daily_summary_record(*, market_now: datetime, now: datetime) -> bool:
    """Write the summary of the last complete UTC day (market time) once, after 00:05."""
    if market_now - day_start_of(market_now) < DAILY_SUMMARY_DELAY:
        return False
    start = day_start_of(market_now) - timedelta(days=1)
    key = f"daily_summary:{start.date().isoformat()}"
    if not channels_for_event(kind=NotificationEvent.DAILY_SUMMARY):
        return False
    if Notice.objects.filter(dedup_key=key).exists():
        return False
    lines, open_positions = day_lines(start=start)
    text = messages.daily_summary(day=start.date(), lines=lines, open_positions=open_positions)
    return notice_record(
        kind=NotificationEvent.DAILY_SUMMARY,
        subject=f"Daily summary {start.date().isoformat()}",
        text=text,
        dedup_key=key,
        payload={"day": start.date().isoformat()},
        now=now,
    )


def telegram_bot_seen(*, config: TelegramBot, username: str) -> None:
    if username and username != config.username:
        TelegramBot.objects.filter(pk=config.pk).update(username=username[:64])
        config.username = username[:64]


def telegram_offset_advance(*, config: TelegramBot, update_id: int) -> None:
    """Move past `update_id` before acting on it: a crash never runs a command twice."""
    config.update_offset = update_id + 1
    TelegramBot.objects.filter(pk=config.pk).update(update_offset=update_id + 1)


def telegram_poll_recorded(*, config: TelegramBot, now: datetime, error: str = "") -> None:
    TelegramBot.objects.filter(pk=config.pk).update(last_poll_at=now, last_error=error[:500])
