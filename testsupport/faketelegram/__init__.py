"""A fake Telegram Bot API server for the tests: ``getMe``, ``getUpdates`` (long polling with
offsets), ``sendMessage``, and a control API to inject user messages and read what the bot sent.
"""

from testsupport.faketelegram.server import FakeTelegram, SentMessage
from testsupport.faketelegram.testing import FakeTelegramInThread

__all__ = ["FakeTelegram", "FakeTelegramInThread", "SentMessage"]
