"""Where the configured client points: live, testnet, demo, or an override such as the fake."""

from __future__ import annotations

import pytest

from apps.exchange.binance import BinanceConfig
from apps.exchange.binance.client import client_class, new_client, socket_manager


@pytest.mark.parametrize(
    ("config", "rest", "stream"),
    [
        (BinanceConfig(), "https://fapi.binance.com/fapi/v1/order", "wss://fstream.binance.com/"),
        (
            BinanceConfig(environment="testnet"),
            "https://testnet.binancefuture.com/fapi/v1/order",
            "wss://fstream.binancefuture.com/",
        ),
        (
            BinanceConfig(environment="demo"),
            "https://demo-fapi.binance.com/fapi/v1/order",
            "wss://fstream.binancefuture.com/",
        ),
        (
            BinanceConfig(base_url="http://127.0.0.1:8123", stream_url="ws://127.0.0.1:8123"),
            "http://127.0.0.1:8123/fapi/v1/order",
            "ws://127.0.0.1:8123/",
        ),
    ],
)
async def test_client_with_environment_points_at_its_urls(
    config: BinanceConfig, rest: str, stream: str
) -> None:
    client = new_client(config)
    try:
        assert client._create_futures_api_uri("order") == rest
        manager = socket_manager(client, config)
        url = manager.FSTREAM_URL
        if client.testnet:
            url = manager.FSTREAM_TESTNET_URL
        elif client.demo:
            url = manager.FSTREAM_DEMO_URL
        assert url == stream
    finally:
        await client.close_connection()


def test_client_class_with_override_redirects_spot_for_create() -> None:
    cls = client_class(BinanceConfig(base_url="http://127.0.0.1:9/", request_timeout_s=3))
    assert cls.API_URL == "http://127.0.0.1:9/api" and cls.REQUEST_TIMEOUT == 3
