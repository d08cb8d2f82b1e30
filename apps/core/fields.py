"""Model fields: ``EncryptedTextField`` stores secrets as Fernet tokens.

The key comes from the environment (``FIELD_ENCRYPTION_KEY``: one or more comma-separated Fernet
keys; the first encrypts, all decrypt, so a key can be rotated by putting the new one first).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

TOKEN_PREFIX = "fernet:"


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "Set the environment variable FIELD_ENCRYPTION_KEY (a Fernet key that encrypts "
            "exchange API keys at rest; `make run` writes one into .env)."
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEY is not a valid Fernet key: {exc}"
        ) from exc


def get_fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_text(plain: str) -> str:
    return TOKEN_PREFIX + get_fernet().encrypt(plain.encode()).decode()


def decrypt_text(token: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        raise DecryptionError("stored value is not an encrypted token")
    try:
        return get_fernet().decrypt(token[len(TOKEN_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY (wrong or rotated key)"
        ) from exc


class SecretStr(str):
    """A decrypted secret whose ``repr`` does not show it (so it never lands in a log)."""

    def __repr__(self) -> str:
        return "SecretStr('********')" if self else "SecretStr('')"


class EncryptedTextField(models.TextField):
    """A text column encrypted at rest; the Python value is the plain text (a ``SecretStr``)."""

    description = "Text encrypted with Fernet"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return SecretStr("")
        return SecretStr(decrypt_text(value))

    def to_python(self, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, str) and value.startswith(TOKEN_PREFIX):
            return SecretStr(decrypt_text(value))
        return SecretStr(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(str(value))
