"""The fake Binance server against an independent client and Binance's documented field sets.

The client here is not python-binance (the production client) and uses no project code: a small
REST client written from Binance's API docs (HMAC-SHA256 request signing) over the standard
library's urllib, and the ``websockets`` library for the streams. It runs against the real
fake server (aiohttp, on 127.0.0.1, in a background thread) over real HTTP and websockets.

Why not an existing independent library: ``binance-futures-connector==4.2.0`` installs into the
same top-level package ``binance`` as python-binance and overwrites its ``binance/__init__.py``
(which then no longer exports ``AsyncClient``), so it cannot share the venv; ``ccxt==4.5.90``
pins exact versions of aiohttp's own dependencies (multidict 6.9.1, idna 3.18, ...) and would
downgrade the platform's. (The connector was checked by hand from a separate directory,
``pip install --target``: klines, tickers, orders, account, positions, trades and income all
worked against the fake.)

Field lists: Binance's USDⓈ-M futures API docs (the URL beside each), checked against the
response and event models of Binance's own SDK generated from its OpenAPI spec
(binance/binance-connector-python, ``derivatives_trading_usds_futures``). Where the docs'
example predates the live answer (e.g. New Order also answers ``avgPrice``/``cumQuote``, as the
docs' WebSocket API ``order.place`` example shows), the field is listed as documented with a note.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.sync.client import ClientConnection, connect

from testsupport.fakebinance.server import FakeBinance
from testsupport.fakebinance.testing import FakeInThread

DOCS = "https://developers.binance.com/docs/derivatives/usds-margined-futures"

# -- Binance's documented field sets ------------------------------------------------------------
# name: (doc URL, documented fields, fields documented as conditional)
Schema = tuple[str, frozenset[str], frozenset[str]]


def schema(url: str, fields: str, conditional: str = "") -> Schema:
    return (url, frozenset(fields.split()), frozenset(conditional.split()))


KLINE_COLUMNS = [
    "openTime",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "closeTime",
    "quoteAssetVolume",
    "numberOfTrades",
    "takerBuyBaseAssetVolume",
    "takerBuyQuoteAssetVolume",
    "ignore",
]
ORDER_COMMON = (
    "orderId symbol status clientOrderId price avgPrice origQty executedQty cumQuote "
    "timeInForce type reduceOnly closePosition side positionSide stopPrice workingType "
    "priceProtect origType priceMatch selfTradePreventionMode goodTillDate updateTime"
)
TRAILING = "activatePrice priceRate"  # "only return with TRAILING_STOP_MARKET order"
ALGO_HEAD = (
    "algoId clientAlgoId algoType orderType symbol side positionSide timeInForce quantity "
    "algoStatus triggerPrice price icebergQuantity selfTradePreventionMode workingType "
    "priceMatch closePosition priceProtect reduceOnly createTime updateTime triggerTime "
    "goodTillDate"
)
REST: dict[str, Schema] = {
    "ticker24hr": schema(
        f"{DOCS}/market-data/rest-api/24hr-Ticker-Price-Change-Statistics",
        "symbol priceChange priceChangePercent weightedAvgPrice lastPrice lastQty openPrice "
        "highPrice lowPrice volume quoteVolume openTime closeTime firstId lastId count",
    ),
    "depth": schema(f"{DOCS}/market-data/rest-api/Order-Book", "lastUpdateId E T bids asks"),
    # lastUpdateId: in the live answer and the docs' older example, not the SDK model
    "bookTicker": schema(
        f"{DOCS}/market-data/rest-api/Symbol-Order-Book-Ticker",
        "symbol bidPrice bidQty askPrice askQty time",
        "lastUpdateId",
    ),
    "tickerPrice": schema(f"{DOCS}/market-data/rest-api/Symbol-Price-Ticker", "symbol price time"),
    "premiumIndex": schema(
        f"{DOCS}/market-data/rest-api/Mark-Price",
        "symbol markPrice indexPrice estimatedSettlePrice lastFundingRate interestRate "
        "nextFundingTime time",
    ),
    "fundingRate": schema(
        f"{DOCS}/market-data/rest-api/Get-Funding-Rate-History",
        "symbol fundingRate fundingTime markPrice",
    ),
    "exchangeInfo": schema(
        f"{DOCS}/market-data/rest-api/Exchange-Information",
        "timezone serverTime futuresType rateLimits exchangeFilters assets symbols",
    ),
    "exchangeInfo.symbol": schema(
        f"{DOCS}/market-data/rest-api/Exchange-Information",
        "symbol pair contractType deliveryDate onboardDate status maintMarginPercent "
        "requiredMarginPercent baseAsset quoteAsset marginAsset pricePrecision "
        "quantityPrecision baseAssetPrecision quotePrecision underlyingType underlyingSubType "
        "settlePlan triggerProtect filters orderTypes timeInForce liquidationFee "
        "marketTakeBound",
        "maxMoveOrderLimit permissionSets",  # in the live answer, not the docs' example
    ),
    "exchangeInfo.asset": schema(
        f"{DOCS}/market-data/rest-api/Exchange-Information",
        "asset marginAvailable autoAssetExchange",
    ),
    "exchangeInfo.rateLimit": schema(
        f"{DOCS}/market-data/rest-api/Exchange-Information",
        "rateLimitType interval intervalNum limit",
    ),
    # New / Cancel Order: the REST example lists cumQty; the live answer (and the docs' WebSocket
    # API order.place example) also carries avgPrice and cumQuote
    "order.ack": schema(f"{DOCS}/trade/rest-api/New-Order", ORDER_COMMON + " cumQty", TRAILING),
    "order.query": schema(f"{DOCS}/trade/rest-api/Query-Order", ORDER_COMMON + " time", TRAILING),
    "userTrade": schema(
        f"{DOCS}/trade/rest-api/Account-Trade-List",
        "buyer commission commissionAsset id maker orderId price qty quoteQty realizedPnl side "
        "positionSide symbol time",
        "baseQty marginAsset pair",  # in the SDK model (COIN-M shape), not the docs' example
    ),
    "income": schema(
        f"{DOCS}/account/rest-api/Get-Income-History",
        "symbol incomeType income asset info time tranId tradeId",
    ),
    "positionRisk.v2": schema(
        f"{DOCS}/trade/rest-api/Position-Information-V2",
        "entryPrice breakEvenPrice marginType isAutoAddMargin isolatedMargin leverage "
        "liquidationPrice markPrice maxNotionalValue positionAmt notional isolatedWallet symbol "
        "unRealizedProfit positionSide updateTime",
    ),
    "positionRisk.v3": schema(
        f"{DOCS}/trade/rest-api/Position-Information-V3",
        "symbol positionSide positionAmt entryPrice breakEvenPrice markPrice unRealizedProfit "
        "liquidationPrice isolatedMargin notional marginAsset isolatedWallet initialMargin "
        "maintMargin positionInitialMargin openOrderInitialMargin adl bidNotional askNotional "
        "updateTime",
    ),
    "account.v2": schema(
        f"{DOCS}/account/rest-api/Account-Information-V2",
        "feeTier feeBurn canTrade canDeposit canWithdraw updateTime multiAssetsMargin "
        "tradeGroupId totalInitialMargin totalMaintMargin totalWalletBalance "
        "totalUnrealizedProfit totalMarginBalance totalPositionInitialMargin "
        "totalOpenOrderInitialMargin totalCrossWalletBalance totalCrossUnPnl availableBalance "
        "maxWithdrawAmount assets positions",
    ),
    "account.v2.asset": schema(
        f"{DOCS}/account/rest-api/Account-Information-V2",
        "asset walletBalance unrealizedProfit marginBalance maintMargin initialMargin "
        "positionInitialMargin openOrderInitialMargin crossWalletBalance crossUnPnl "
        "availableBalance maxWithdrawAmount marginAvailable updateTime",
    ),
    # marginType: not Binance's (its v2 entry says "isolated"); the fake keeps it because an
    # existing test reads it, see KNOWN_EXTRA
    "account.v2.position": schema(
        f"{DOCS}/account/rest-api/Account-Information-V2",
        "symbol initialMargin maintMargin unrealizedProfit positionInitialMargin "
        "openOrderInitialMargin leverage isolated entryPrice breakEvenPrice maxNotional "
        "bidNotional askNotional positionSide positionAmt notional isolatedWallet updateTime",
    ),
    "account.v3": schema(
        f"{DOCS}/account/rest-api/Account-Information-V3",
        "totalInitialMargin totalMaintMargin totalWalletBalance totalUnrealizedProfit "
        "totalMarginBalance totalPositionInitialMargin totalOpenOrderInitialMargin "
        "totalCrossWalletBalance totalCrossUnPnl availableBalance maxWithdrawAmount assets "
        "positions",
    ),
    "account.v3.asset": schema(
        f"{DOCS}/account/rest-api/Account-Information-V3",
        "asset walletBalance unrealizedProfit marginBalance maintMargin initialMargin "
        "positionInitialMargin openOrderInitialMargin crossWalletBalance crossUnPnl "
        "availableBalance maxWithdrawAmount updateTime",
    ),
    "account.v3.position": schema(
        f"{DOCS}/account/rest-api/Account-Information-V3",
        "symbol positionSide positionAmt unrealizedProfit isolatedMargin notional "
        "isolatedWallet initialMargin maintMargin updateTime",
    ),
    "balance": schema(
        f"{DOCS}/account/rest-api/Futures-Account-Balance-V2",
        "accountAlias asset balance crossWalletBalance crossUnPnl availableBalance "
        "maxWithdrawAmount marginAvailable updateTime",
    ),
    "symbolConfig": schema(
        f"{DOCS}/account/rest-api/Symbol-Config",
        "symbol marginType isAutoAddMargin leverage maxNotionalValue",
    ),
    "commissionRate": schema(
        f"{DOCS}/account/rest-api/User-Commission-Rate",
        "symbol makerCommissionRate takerCommissionRate",
    ),
    "leverage": schema(
        f"{DOCS}/trade/rest-api/Change-Initial-Leverage", "leverage maxNotionalValue symbol"
    ),
    "algo.new": schema(
        f"{DOCS}/trade/rest-api/New-Algo-Order", ALGO_HEAD + " activatePrice callbackRate"
    ),
    "algo.query": schema(
        f"{DOCS}/trade/rest-api/Query-Algo-Order",
        ALGO_HEAD + " actualOrderId actualPrice actualType actualQty tpOrderType",
        "activatePrice callbackRate",
    ),
    "algo.list": schema(
        f"{DOCS}/trade/rest-api/Current-All-Algo-Open-Orders",
        ALGO_HEAD + " actualOrderId actualPrice tpTriggerPrice tpPrice slTriggerPrice slPrice "
        "tpOrderType",
        "activatePrice callbackRate",
    ),
    "algo.cancel": schema(
        f"{DOCS}/trade/rest-api/Cancel-Algo-Order", "algoId clientAlgoId code msg"
    ),
}
FILTERS = {
    "PRICE_FILTER": {"filterType", "minPrice", "maxPrice", "tickSize"},
    "LOT_SIZE": {"filterType", "minQty", "maxQty", "stepSize"},
    "MARKET_LOT_SIZE": {"filterType", "minQty", "maxQty", "stepSize"},
    "MAX_NUM_ORDERS": {"filterType", "limit"},
    "MAX_NUM_ALGO_ORDERS": {"filterType", "limit"},
    "MIN_NOTIONAL": {"filterType", "notional"},
    "PERCENT_PRICE": {"filterType", "multiplierUp", "multiplierDown", "multiplierDecimal"},
}
KNOWN_EXTRA = {"account.v2.position": {"marginType"}}
STREAMS = f"{DOCS}/market-data/websocket-market-streams"
USER = f"{DOCS}/user-data-streams"
EVENTS: dict[str, Schema] = {
    "kline": schema(f"{STREAMS}/Kline-Candlestick-Streams", "e E s k"),
    "kline.k": schema(f"{STREAMS}/Kline-Candlestick-Streams", "t T s i f L o c h l v n x q V Q B"),
    "continuous_kline": schema(
        f"{STREAMS}/Continuous-Contract-Kline-Candlestick-Streams", "e E ps ct k"
    ),
    "continuous_kline.k": schema(
        f"{STREAMS}/Continuous-Contract-Kline-Candlestick-Streams",
        "t T i f L o c h l v n x q V Q B",
    ),
    "bookTicker": schema(f"{STREAMS}/Individual-Symbol-Book-Ticker-Streams", "e u E T s b B a A"),
    "depthUpdate": schema(f"{STREAMS}/Partial-Book-Depth-Streams", "e E T s U u pu b a"),
    "markPriceUpdate": schema(f"{STREAMS}/Mark-Price-Stream", "e E s p i P r T"),
    "ORDER_TRADE_UPDATE": schema(f"{USER}/Event-Order-Update", "e E T o"),
    "ORDER_TRADE_UPDATE.o": schema(
        f"{USER}/Event-Order-Update",
        "s c S o f q p ap sp x X i l z L T t b a m R wt ot ps cp rp pP si ss V pm gtd",
        # N/n: "will not push if no commission"; AP/cr: trailing stops only; er: expiry reason
        "N n AP cr er",
    ),
    "ACCOUNT_UPDATE": schema(f"{USER}/Event-Balance-and-Position-Update", "e E T a"),
    "ACCOUNT_UPDATE.a": schema(f"{USER}/Event-Balance-and-Position-Update", "m B P"),
    "ACCOUNT_UPDATE.B": schema(f"{USER}/Event-Balance-and-Position-Update", "a wb cw bc"),
    "ACCOUNT_UPDATE.P": schema(
        f"{USER}/Event-Balance-and-Position-Update", "s pa ep bep cr up mt iw ps"
    ),
    "TRADE_LITE": schema(f"{USER}/Event-Trade-Lite", "e E T s q p m c S L l t i"),
    "ALGO_UPDATE": schema(f"{USER}/Event-Algo-Order-Update", "e E T o"),
    "ALGO_UPDATE.o": schema(
        f"{USER}/Event-Algo-Order-Update",
        "caid aid at o s S ps f q X ai tp p V wt pm cp pP R tt gtd rm",
        # ap/aq/act: "only display when order is triggered and placed in matching engine";
        # ia: trailing orders only
        "ap aq act ia",
    ),
    "ACCOUNT_CONFIG_UPDATE": schema(f"{USER}/Event-Account-Configuration-Update", "e E T ac"),
    "ACCOUNT_CONFIG_UPDATE.ac": schema(f"{USER}/Event-Account-Configuration-Update", "s l"),
}


def assert_fields(name: str, obj: dict[str, Any], table: dict[str, Schema] = REST) -> None:
    """Assert ``obj`` carries every documented field of ``name`` and nothing undocumented."""
    url, documented, conditional = table[name]
    keys = set(obj)
    missing = documented - keys
    extra = keys - documented - conditional - KNOWN_EXTRA.get(name, set())
    assert not missing and not extra, f"{name} ({url}): missing {missing}, undocumented {extra}"


def assert_nonzero(name: str, obj: dict[str, Any], fields: str) -> None:
    """Assert none of ``fields`` is a zero or empty placeholder."""
    for f in fields.split():
        value = obj[f]
        assert value not in (None, "", 0), f"{name}.{f} is {value!r}"
        if isinstance(value, str):
            assert Decimal(value) != 0, f"{name}.{f} is {value!r}"


# -- an independent client, written from Binance's docs ---------------------------------------
class BinanceHTTPError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class RawUMFutures:
    """A minimal USDⓈ-M futures REST client following Binance's "SIGNED Endpoint Security":
    ``signature`` = HMAC-SHA256 (hex) of the full query string keyed with the secret, sent with
    ``timestamp`` and ``recvWindow``; the API key goes in the ``X-MBX-APIKEY`` header."""

    def __init__(self, base_url: str, api_key: str, api_secret: str) -> None:
        self.base_url, self.api_key, self.api_secret = base_url, api_key, api_secret

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, *, signed: bool = False
    ) -> Any:
        query = dict(params or {})
        headers = {"X-MBX-APIKEY": self.api_key}
        if signed:
            query["timestamp"] = int(time.time() * 1000)
            query["recvWindow"] = 5000
        text = urlencode(query)
        if signed:
            digest = hmac.new(self.api_secret.encode(), text.encode(), hashlib.sha256)
            text += "&signature=" + digest.hexdigest()
        url = self.base_url + path + ("?" + text if text else "")
        req = urllib.request.Request(url, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise BinanceHTTPError(exc.code, exc.read().decode()) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params)

    def signed(self, method: str, path: str, **params: Any) -> Any:
        return self.request(method, path, params, signed=True)

    def control(self, path: str, body: dict[str, Any]) -> Any:
        """POST to the fake's own /_fake/ control API (moving the market)."""
        req = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


class Stream:
    """A websocket stream read with the ``websockets`` library."""

    def __init__(self, url: str) -> None:
        self.ws: ClientConnection = connect(url, open_timeout=10)
        # a request/answer round trip: the server has registered the connection
        self.ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        assert "result" in json.loads(self.ws.recv(timeout=10))

    def until(self, predicate: Any, *, within: float = 10.0) -> dict[str, Any]:
        """Return the first payload (combined streams unwrapped) matching ``predicate``."""
        deadline = time.monotonic() + within
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            data = msg.get("data", msg)
            if predicate(data):
                return data

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def venue() -> Iterator[tuple[FakeBinance, RawUMFutures]]:
    with FakeInThread(seed=3) as fb:
        yield fb, RawUMFutures(fb.url, fb.api_key, fb.api_secret)


# -- market data ---------------------------------------------------------------------------------
def test_independent_client_with_klines_gets_consistent_trade_counts_and_volumes(
    venue: tuple[FakeBinance, RawUMFutures],
) -> None:
    _, api = venue
    hours = api.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit=24)
    assert len(hours) == 24 and all(len(k) == len(KLINE_COLUMNS) for k in hours)
    for k in hours:
        row = dict(zip(KLINE_COLUMNS, k, strict=True))
        assert Decimal(row["volume"]) > 0
        assert_nonzero(
            "kline",
            row,
            "quoteAssetVolume numberOfTrades takerBuyBaseAssetVolume takerBuyQuoteAssetVolume",
        )
        assert 0 < Decimal(row["takerBuyBaseAssetVolume"]) < Decimal(row["volume"])
        assert 0 < Decimal(row["takerBuyQuoteAssetVolume"]) < Decimal(row["quoteAssetVolume"])
        average = Decimal(row["quoteAssetVolume"]) / Decimal(row["volume"])
        assert Decimal(row["low"]) <= average <= Decimal(row["high"])
        assert row["ignore"] == "0"
    # an aggregated 4h kline sums its four 1h klines' trades and quote volume
    i = next(i for i, k in enumerate(hours) if k[0] % (4 * 3_600_000) == 0)
    four = api.get(
        "/fapi/v1/klines", symbol="BTCUSDT", interval="4h", startTime=hours[i][0], limit=1
    )[0]
    assert four[0] == hours[i][0]
    assert four[8] == sum(k[8] for k in hours[i : i + 4])
    assert Decimal(four[7]) == sum(Decimal(k[7]) for k in hours[i : i + 4])
    # the 24hr ticker is the sum of the same hourly klines, and its ids count its trades
    ticker = api.get("/fapi/v1/ticker/24hr", symbol="BTCUSDT")
    assert_fields("ticker24hr", ticker)
    assert_nonzero("ticker24hr", ticker, "firstId lastId count lastQty quoteVolume volume")
    assert ticker["openTime"] == hours[0][0]
    assert ticker["count"] == sum(k[8] for k in hours)
    assert ticker["lastId"] - ticker["firstId"] + 1 == ticker["count"]
    assert Decimal(ticker["quoteVolume"]) == sum(Decimal(k[7]) for k in hours)
    assert Decimal(ticker["volume"]) == sum(Decimal(k[5]) for k in hours)
    # minute klines: more trades where more volume traded
    minutes = api.get("/fapi/v1/klines", symbol="ETHUSDT", interval="1m", limit=60)
    busiest = max(minutes, key=lambda k: Decimal(k[5]))
    quietest = min(minutes, key=lambda k: Decimal(k[5]))
    assert busiest[8] > quietest[8]


def test_independent_client_with_market_endpoints_gets_documented_fields(
    venue: tuple[FakeBinance, RawUMFutures],
) -> None:
    _, api = venue
    assert isinstance(api.get("/fapi/v1/time")["serverTime"], int)
    info = api.get("/fapi/v1/exchangeInfo")
    assert_fields("exchangeInfo", info)
    for limit in info["rateLimits"]:
        assert_fields("exchangeInfo.rateLimit", limit)
        assert limit["limit"] > 0
    for asset in info["assets"]:
        assert_fields("exchangeInfo.asset", asset)
    for sym in info["symbols"]:
        assert_fields("exchangeInfo.symbol", sym)
        assert_nonzero(sym["symbol"], sym, "maintMarginPercent requiredMarginPercent")
        for f in sym["filters"]:
            assert set(f) == FILTERS[f["filterType"]], f
            values = [v for k, v in f.items() if k != "filterType"]
            assert all(Decimal(str(v)) > 0 for v in values), f
    depth = api.get("/fapi/v1/depth", symbol="BTCUSDT", limit=5)
    assert_fields("depth", depth)
    assert len(depth["bids"]) == 5 and Decimal(depth["bids"][0][0]) < Decimal(depth["asks"][0][0])
    book = api.get("/fapi/v1/ticker/bookTicker", symbol="BTCUSDT")
    assert_fields("bookTicker", book)
    assert_nonzero("bookTicker", book, "bidPrice bidQty askPrice askQty")
    price = api.get("/fapi/v1/ticker/price", symbol="BTCUSDT")
    assert_fields("tickerPrice", price)
    premium = api.get("/fapi/v1/premiumIndex", symbol="BTCUSDT")
    assert_fields("premiumIndex", premium)
    assert_nonzero(
        "premiumIndex", premium, "markPrice indexPrice estimatedSettlePrice interestRate"
    )
    for row in api.get("/fapi/v1/fundingRate", symbol="BTCUSDT", limit=5):
        assert_fields("fundingRate", row)
        assert_nonzero("fundingRate", row, "markPrice")
        # the mark price at funding time is that hour's close: within 20 % of today's price
        assert abs(Decimal(row["markPrice"]) / Decimal(price["price"]) - 1) < Decimal("0.2")


# -- trading and account ---------------------------------------------------------------------------
def test_independent_client_places_queries_and_cancels_an_order(
    venue: tuple[FakeBinance, RawUMFutures],
) -> None:
    _, api = venue
    last = Decimal(api.get("/fapi/v1/ticker/price", symbol="ETHUSDT")["price"])
    below = (last * Decimal("0.98")).quantize(Decimal("0.01"))
    placed = api.signed(
        "POST",
        "/fapi/v1/order",
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.050",
        price=f"{below}",
        newClientOrderId="fidelity-1",
    )
    assert_fields("order.ack", placed)
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "fidelity-1"
    assert placed["price"] == f"{below}" and placed["updateTime"] > 0
    queried = api.signed("GET", "/fapi/v1/order", symbol="ETHUSDT", orderId=placed["orderId"])
    assert_fields("order.query", queried)
    assert queried["time"] > 0 and queried["status"] == "NEW"
    open_orders = api.signed("GET", "/fapi/v1/openOrders", symbol="ETHUSDT")
    assert [o["orderId"] for o in open_orders] == [placed["orderId"]]
    for row in open_orders:
        assert_fields("order.query", row)
    v3 = api.signed("GET", "/fapi/v3/positionRisk", symbol="ETHUSDT")
    assert len(v3) == 1  # listed: it has an open order
    assert_fields("positionRisk.v3", v3[0])
    assert Decimal(v3[0]["bidNotional"]) == Decimal("0.050") * below
    assert_nonzero("positionRisk.v3", v3[0], "openOrderInitialMargin bidNotional")
    canceled = api.signed(
        "DELETE", "/fapi/v1/order", symbol="ETHUSDT", origClientOrderId="fidelity-1"
    )
    assert_fields("order.ack", canceled)
    assert canceled["status"] == "CANCELED"
    after = api.signed("GET", "/fapi/v1/order", symbol="ETHUSDT", orderId=placed["orderId"])
    assert after["status"] == "CANCELED"
    for row in api.signed("GET", "/fapi/v1/allOrders", symbol="ETHUSDT"):
        assert_fields("order.query", row)
    with pytest.raises(BinanceHTTPError) as exc:
        api.signed("DELETE", "/fapi/v1/order", symbol="ETHUSDT", orderId=placed["orderId"])
    assert json.loads(exc.value.body)["code"] == -2011


def test_independent_client_with_a_fill_reads_account_positions_trades_and_income(
    venue: tuple[FakeBinance, RawUMFutures],
) -> None:
    _, api = venue
    ticker = api.get("/fapi/v1/ticker/24hr", symbol="BTCUSDT")
    lev = api.signed("POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage=10)
    assert_fields("leverage", lev)
    filled = api.signed(
        "POST",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.020",
        newOrderRespType="RESULT",
    )
    assert_fields("order.ack", filled)
    assert filled["status"] == "FILLED"
    assert_nonzero("order", filled, "avgPrice cumQuote executedQty cumQty")
    trades = api.signed("GET", "/fapi/v1/userTrades", symbol="BTCUSDT")
    assert trades
    for t in trades:
        assert_fields("userTrade", t)
        assert_nonzero("userTrade", t, "id commission price qty quoteQty time")
        # the user's trades continue the symbol's tape after the ticker's last trade
        assert t["id"] > ticker["lastId"]
    assert sorted(t["id"] for t in trades) == [t["id"] for t in trades]
    assert len({t["id"] for t in trades}) == len(trades)
    rows = api.signed("GET", "/fapi/v2/positionRisk", symbol="BTCUSDT")
    assert len(rows) == 1
    assert_fields("positionRisk.v2", rows[0])
    assert_nonzero(
        "positionRisk.v2",
        rows[0],
        "positionAmt entryPrice breakEvenPrice markPrice notional updateTime",
    )
    assert Decimal(rows[0]["breakEvenPrice"]) > Decimal(rows[0]["entryPrice"])  # a long
    (v3,) = api.signed("GET", "/fapi/v3/positionRisk", symbol="BTCUSDT")
    assert_fields("positionRisk.v3", v3)
    assert_nonzero("positionRisk.v3", v3, "initialMargin maintMargin positionInitialMargin adl")
    for version in (2, 3):
        account = api.signed("GET", f"/fapi/v{version}/account")
        assert_fields(f"account.v{version}", account)
        assert_nonzero(f"account.v{version}", account, "totalWalletBalance totalInitialMargin")
        for asset in account["assets"]:
            assert_fields(f"account.v{version}.asset", asset)
            assert_nonzero("asset", asset, "walletBalance updateTime")
        btc = [p for p in account["positions"] if p["symbol"] == "BTCUSDT"]
        assert len(btc) == 1
        for p in account["positions"]:
            assert_fields(f"account.v{version}.position", p)
        assert_nonzero("position", btc[0], "positionAmt notional initialMargin updateTime")
    for version in (2, 3):
        for row in api.signed("GET", f"/fapi/v{version}/balance"):
            assert_fields("balance", row)
            assert_nonzero("balance", row, "balance availableBalance updateTime")
    (config,) = api.signed("GET", "/fapi/v1/symbolConfig", symbol="BTCUSDT")
    assert_fields("symbolConfig", config)
    assert config["leverage"] == 10
    income = api.signed("GET", "/fapi/v1/income", symbol="BTCUSDT")
    assert [r["incomeType"] for r in income] == ["COMMISSION"] * len(trades)
    for row, trade in zip(income, trades, strict=True):
        assert_fields("income", row)
        assert_nonzero("income", row, "income tranId time tradeId")
        assert int(row["tradeId"]) == trade["id"]
        assert Decimal(row["income"]) == -Decimal(trade["commission"])
    rate = api.signed("GET", "/fapi/v1/commissionRate", symbol="BTCUSDT")
    assert_fields("commissionRate", rate)
    assert_nonzero("commissionRate", rate, "makerCommissionRate takerCommissionRate")


def test_independent_client_with_algo_orders_gets_documented_fields(
    venue: tuple[FakeBinance, RawUMFutures],
) -> None:
    _, api = venue
    last = Decimal(api.get("/fapi/v1/ticker/price", symbol="SOLUSDT")["price"])
    trigger = (last * Decimal("1.05")).quantize(Decimal("0.01"))
    placed = api.signed(
        "POST",
        "/fapi/v1/algoOrder",
        algoType="CONDITIONAL",
        symbol="SOLUSDT",
        side="BUY",
        type="STOP_MARKET",
        quantity="1.00",
        triggerPrice=f"{trigger}",
        clientAlgoId="fidelity-algo",
    )
    assert_fields("algo.new", placed)
    assert_nonzero("algo.new", placed, "algoId triggerPrice quantity createTime updateTime")
    queried = api.signed("GET", "/fapi/v1/algoOrder", algoId=placed["algoId"])
    assert_fields("algo.query", queried)
    assert queried["actualType"] == "MARKET" and queried["actualOrderId"] == ""
    for row in api.signed("GET", "/fapi/v1/openAlgoOrders", symbol="SOLUSDT"):
        assert_fields("algo.list", row)
    canceled = api.signed("DELETE", "/fapi/v1/algoOrder", algoId=placed["algoId"])
    assert_fields("algo.cancel", canceled)
    for row in api.signed("GET", "/fapi/v1/allAlgoOrders", symbol="SOLUSDT"):
        assert_fields("algo.list", row)
        assert row["algoStatus"] == "CANCELED"


# -- streams ---------------------------------------------------------------------------------------
def test_user_stream_events_carry_documented_fields(
    venue: tuple[FakeBinance, RawUMFutures],
) -> None:
    fb, api = venue
    key = api.request("POST", "/fapi/v1/listenKey")["listenKey"]
    stream = Stream(f"{fb.ws_url}ws/{key}")
    try:
        last = Decimal(api.get("/fapi/v1/ticker/price", symbol="ETHUSDT")["price"])
        below = (last * Decimal("0.99")).quantize(Decimal("0.01"))
        api.signed(
            "POST",
            "/fapi/v1/order",
            symbol="ETHUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.100",
            price=f"{below}",
        )
        new = stream.until(lambda d: d.get("e") == "ORDER_TRADE_UPDATE")
        assert_fields("ORDER_TRADE_UPDATE", new, EVENTS)
        assert_fields("ORDER_TRADE_UPDATE.o", new["o"], EVENTS)
        assert new["o"]["x"] == "NEW" and "n" not in new["o"]  # no commission yet
        assert Decimal(new["o"]["b"]) == Decimal("0.100") * below  # its own bid notional
        api.control("/_fake/price", {"symbol": "ETHUSDT", "price": f"{below - 1}"})
        lite = stream.until(lambda d: d.get("e") == "TRADE_LITE")
        assert_fields("TRADE_LITE", lite, EVENTS)
        trade = stream.until(
            lambda d: d.get("e") == "ORDER_TRADE_UPDATE" and d["o"]["x"] == "TRADE"
        )
        assert_fields("ORDER_TRADE_UPDATE.o", trade["o"], EVENTS)
        assert_nonzero("ORDER_TRADE_UPDATE.o", trade["o"], "l z L ap n t T")
        assert trade["o"]["t"] == lite["t"] and trade["o"]["m"] is True
        account = stream.until(lambda d: d.get("e") == "ACCOUNT_UPDATE")
        assert_fields("ACCOUNT_UPDATE", account, EVENTS)
        assert_fields("ACCOUNT_UPDATE.a", account["a"], EVENTS)
        for b in account["a"]["B"]:
            assert_fields("ACCOUNT_UPDATE.B", b, EVENTS)
        (pos,) = account["a"]["P"]
        assert_fields("ACCOUNT_UPDATE.P", pos, EVENTS)
        assert_nonzero("ACCOUNT_UPDATE.P", pos, "pa ep bep")
        trades = api.signed("GET", "/fapi/v1/userTrades", symbol="ETHUSDT")
        assert trades[-1]["id"] == lite["t"]
        api.signed("POST", "/fapi/v1/leverage", symbol="ETHUSDT", leverage=7)
        config = stream.until(lambda d: d.get("e") == "ACCOUNT_CONFIG_UPDATE")
        assert_fields("ACCOUNT_CONFIG_UPDATE", config, EVENTS)
        assert_fields("ACCOUNT_CONFIG_UPDATE.ac", config["ac"], EVENTS)
        trigger = (last * Decimal("0.9")).quantize(Decimal("0.01"))
        api.signed(
            "POST",
            "/fapi/v1/algoOrder",
            algoType="CONDITIONAL",
            symbol="ETHUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity="0.100",
            triggerPrice=f"{trigger}",
        )
        algo = stream.until(lambda d: d.get("e") == "ALGO_UPDATE")
        assert_fields("ALGO_UPDATE", algo, EVENTS)
        assert_fields("ALGO_UPDATE.o", algo["o"], EVENTS)
        api.control("/_fake/price", {"symbol": "ETHUSDT", "price": f"{trigger - 1}"})
        placed = stream.until(
            lambda d: d.get("e") == "ALGO_UPDATE" and d["o"]["X"] in ("TRIGGERED", "FINISHED")
        )
        assert_fields("ALGO_UPDATE.o", placed["o"], EVENTS)
        assert placed["o"]["act"] == "MARKET" and placed["o"]["ai"] != ""
    finally:
        stream.close()


def test_market_streams_carry_documented_fields_and_trade_counts(
    venue: tuple[FakeBinance, RawUMFutures],
) -> None:
    fb, api = venue
    names = [
        "btcusdt@kline_1m",
        "btcusdt_perpetual@continuousKline_1m",
        "btcusdt@bookTicker",
        "btcusdt@depth5",
        "btcusdt@markPrice",
    ]
    stream = Stream(f"{fb.ws_url}stream?streams={'/'.join(names)}")
    try:
        price = Decimal(api.get("/fapi/v1/ticker/price", symbol="BTCUSDT")["price"])
        api.control("/_fake/price", {"symbol": "BTCUSDT", "price": f"{price + 10}"})
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 5:
            data = stream.until(lambda d: "e" in d)
            seen.setdefault(data["e"], data)
        for name in ("kline", "continuous_kline", "bookTicker", "depthUpdate", "markPriceUpdate"):
            assert_fields(name, seen[name], EVENTS)
        for name in ("kline", "continuous_kline"):
            k = seen[name]["k"]
            assert_fields(f"{name}.k", k, EVENTS)
            assert_nonzero(f"{name}.k", k, "f L n v q V Q")
            assert k["L"] - k["f"] + 1 == k["n"]
        # a replayed (closed) candle carries the same statistics as the REST kline
        minute = api.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit=1)[0]
        api.control(
            "/_fake/replay",
            {"symbol": "BTCUSDT", "interval": "1m", "start": minute[0], "count": 1},
        )
        closed = stream.until(lambda d: d.get("e") == "kline" and d["k"]["x"])["k"]
        assert closed["t"] == minute[0]
        assert (closed["v"], closed["q"], closed["n"]) == (minute[5], minute[7], minute[8])
        assert (closed["V"], closed["Q"]) == (minute[9], minute[10])
        assert closed["L"] - closed["f"] + 1 == closed["n"] > 0
    finally:
        stream.close()
