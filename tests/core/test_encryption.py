from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from apps.core.fields import DecryptionError, decrypt_text, encrypt_text
from apps.exchange.models import ExchangeAccount

API_KEY = "AKIA-live-key-0123456789-visible-marker"
API_SECRET = "s3cr3t-live-secret-9876543210-visible-marker"


@pytest.mark.django_db
def test_account_keys_with_round_trip_are_stored_encrypted_and_read_back_plain() -> None:
    account = ExchangeAccount.objects.create(
        name="binance-live", environment="live", api_key=API_KEY, api_secret=API_SECRET
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, api_secret FROM exchange_exchangeaccount WHERE id = %s",
            [account.pk],
        )
        raw_key, raw_secret = cursor.fetchone()
    assert API_KEY not in raw_key and API_SECRET not in raw_secret
    assert raw_key.startswith("fernet:") and raw_secret.startswith("fernet:")

    loaded = ExchangeAccount.objects.get(pk=account.pk)
    assert loaded.api_key == API_KEY
    assert loaded.api_secret == API_SECRET
    assert API_SECRET not in repr(loaded.api_secret)
    assert API_SECRET not in repr(loaded) and API_SECRET not in str(loaded)


def test_decrypt_with_wrong_key_raises_clear_error() -> None:
    token = encrypt_text("hello")
    other = "uPjq3N9kXyQ0CqXcQy5v2p1Y1aP0bR7mV3xW4zT6sE8="
    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[other]),
        pytest.raises(DecryptionError, match="FIELD_ENCRYPTION_KEY"),
    ):
        decrypt_text(token)


def test_key_rotation_with_new_key_first_still_decrypts_old_tokens() -> None:
    old_token = encrypt_text("rotated")
    new_key = "uPjq3N9kXyQ0CqXcQy5v2p1Y1aP0bR7mV3xW4zT6sE8="
    from django.conf import settings

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *settings.FIELD_ENCRYPTION_KEYS]):
        assert decrypt_text(old_token) == "rotated"
