"""Parsing a chat message into one of the bot's commands.

A command is ``/name`` (optionally ``/name@botusername``, as Telegram sends them in groups)
followed by arguments separated by spaces. Anything that does not start with ``/`` is not a
command; a command addressed to another bot (``/status@other_bot``) is not ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Name(StrEnum):
    STATUS = "status"
    PROFIT = "profit"
    BALANCE = "balance"
    POSITIONS = "positions"
    PAUSE = "pause"
    RESUME = "resume"
    KILLSWITCH = "killswitch"
    CONFIRM = "confirm"
    HELP = "help"
    START = "start"  # what Telegram sends when a user first opens the chat: answered as /help


HELP_LINES: tuple[tuple[str, str], ...] = (
    ("/status", "each bot's state, open positions and PnL today"),
    ("/profit", "net PnL of closed trades: total and today, per bot"),
    ("/balance", "each bot's equity (start + net PnL + unrealised)"),
    ("/positions", "open positions with entry, mark and unrealised PnL"),
    ("/pause BOT", "no new orders for BOT (open positions keep their stops)"),
    ("/resume BOT", "let BOT trade again"),
    ("/killswitch [BOT]", "cancel all orders, close all positions, halt (all bots if none)"),
    ("/confirm CODE", "go ahead with the kill switch just asked for"),
    ("/help", "this list"),
)

_NEEDS_BOT = {Name.PAUSE, Name.RESUME}
_BOT_NAME = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")  # a Bot.name is a slug
_CODE = re.compile(r"^[0-9]{4,12}$")


@dataclass(frozen=True, slots=True)
class Command:
    name: Name
    args: tuple[str, ...] = ()

    @property
    def bot(self) -> str | None:
        return self.args[0] if self.args else None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A message that looks like a command of ours but cannot be run; ``reason`` is the reply."""

    reason: str


def parse(text: str, *, bot_username: str = "") -> Command | Invalid | None:
    """Return the command in `text`, an :class:`Invalid` with a one-line reason, or None for a
    message that is not a command to this bot."""
    words = (text or "").strip().split()
    if not words or not words[0].startswith("/"):
        return None
    head, args = words[0][1:], tuple(words[1:])
    name, _, addressee = head.partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    try:
        command = Name(name.lower())
    except ValueError:
        return Invalid(f"Unknown command /{name[:32]}. Send /help for the list.")
    if command in _NEEDS_BOT and len(args) != 1:
        return Invalid(f"Usage: /{command} BOT (one bot name).")
    if command == Name.KILLSWITCH and len(args) > 1:
        return Invalid("Usage: /killswitch [BOT] (one bot, or none for all bots).")
    if command in (*_NEEDS_BOT, Name.KILLSWITCH) and args and not _BOT_NAME.match(args[0]):
        return Invalid(f"Not a bot name: {args[0][:64]}")
    if command == Name.CONFIRM and (len(args) != 1 or not _CODE.match(args[0])):
        return Invalid("Usage: /confirm CODE (the number the kill switch reply gave).")
    if command == Name.START:
        command = Name.HELP
    return Command(command, args)
