"""The /_fake/ control endpoints and the ``fakebinance`` management command's input checks."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest
from django.core.management import CommandError, call_command

from testsupport.fakebinance import FakeBinance


async def test_admin_price_and_fault_endpoints_with_json_change_the_fake(fake: FakeBinance) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{fake.url}/_fake/price", json={"symbol": "ADAUSDT", "price": "0.5"}
        ) as resp:
            assert resp.status == 200
        assert fake.price("ADAUSDT") == Decimal("0.5")
        async with http.post(
            f"{fake.url}/_fake/fault", json={"kind": "fail", "path": "/fapi/v1/ping", "status": 504}
        ) as resp:
            assert resp.status == 200
        async with http.get(f"{fake.url}/fapi/v1/ping") as resp:
            assert resp.status == 504
        async with http.get(f"{fake.url}/fapi/v1/ping") as resp:
            assert resp.status == 200
        async with http.post(f"{fake.url}/_fake/time", json={"advance_ms": 60_000}) as resp:
            assert (await resp.json())["marketTime"] == fake.exchange.market_time
        async with http.get(f"{fake.url}/_fake/state") as resp:
            assert (await resp.json())["prices"]["ADAUSDT"] == "0.5"


def test_command_with_missing_data_dir_raises_command_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="no futures/ folder"):
        call_command(
            "fakebinance", "--api-key", "k", "--api-secret", "s", "--data-dir", str(tmp_path)
        )
