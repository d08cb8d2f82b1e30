"""Public market-data endpoints and the (unsigned) listenKey endpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import errors, params
from .accounts import fmt
from .data import INTERVAL_MS
from .routes import KEY, NONE, Route
from .symbols import RATE_LIMITS_DOC, SPECS, get_spec

if TYPE_CHECKING:
    from .server import FakeBinance

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def ping(fb: FakeBinance, p: dict[str, str]) -> Any:
    return {}


def server_time(fb: FakeBinance, p: dict[str, str]) -> Any:
    return {"serverTime": fb.exchange.now()}


def exchange_info(fb: FakeBinance, p: dict[str, str]) -> Any:
    return {
        "timezone": "UTC",
        "serverTime": fb.exchange.now(),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {**r, "limit": lim}
            for r, lim in zip(
                RATE_LIMITS_DOC,
                (
                    fb.limiter.config.weight_per_minute,
                    fb.limiter.config.orders_per_minute,
                    fb.limiter.config.orders_per_10s,
                ),
                strict=True,
            )
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [spec.info() for spec in SPECS.values()],
    }


def klines(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    interval = p.get("interval")
    if not interval:
        raise errors.missing("interval")
    if interval not in INTERVAL_MS:
        raise errors.BinanceError(-1120, "Invalid interval.")
    limit = params.integer(p, "limit", 500) or 500
    limit = max(1, min(limit, 1500))
    try:
        rows = fb.exchange.data.select(
            spec.symbol,
            interval,
            params.integer(p, "startTime"),
            params.integer(p, "endTime"),
            limit,
            fb.exchange.market_time,
        )
    except KeyError:
        return []
    step = INTERVAL_MS[interval]
    tape = fb.exchange.tape
    out = []
    for row in rows:
        t, o, h, lo, c, v = row
        st = tape.stats(spec.symbol, interval, row)
        out.append(
            [
                t,
                spec.fmt_price(Decimal(o)),
                spec.fmt_price(Decimal(h)),
                spec.fmt_price(Decimal(lo)),
                spec.fmt_price(Decimal(c)),
                v,
                t + step - 1,
                f"{st.quote:f}",
                st.count,
                f"{st.taker_base:f}",
                f"{st.taker_quote:f}",
                "0",  # "Ignore." in Binance's docs; Binance sends "0"
            ]
        )
    return out


def depth(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    limit = params.integer(p, "limit", 500) or 500
    if limit not in DEPTH_LIMITS:
        raise errors.BinanceError(-1100, "Illegal characters found in parameter 'limit'.")
    book = fb.exchange.market(spec.symbol).book
    bids, asks = book.snapshot(limit)
    now = fb.exchange.now()
    return {"lastUpdateId": book.update_id, "E": now, "T": now, "bids": bids, "asks": asks}


def _each(p: dict[str, str], one: Any) -> Any:
    if p.get("symbol"):
        return one(get_spec(p["symbol"]).symbol)
    return [one(s) for s in SPECS]


def ticker_price(fb: FakeBinance, p: dict[str, str]) -> Any:
    ex = fb.exchange
    return _each(
        p,
        lambda s: {"symbol": s, "price": ex.spec(s).fmt_price(ex.market(s).last), "time": ex.now()},
    )


def ticker_24h(fb: FakeBinance, p: dict[str, str]) -> Any:
    """Summarise the shipped 1h candles of the 24 h before the market clock, plus the live price."""
    ex = fb.exchange

    def one(s: str) -> dict[str, Any]:
        spec, last = ex.spec(s), ex.market(s).last
        end = ex.market_time
        try:
            rows = ex.data.select(s, "1h", end - 86_400_000, end - 1, 24, end)
        except KeyError:
            rows = []
        open_ = Decimal(rows[0][1]) if rows else last
        high = max([last, *(Decimal(r[2]) for r in rows)])
        low = min([last, *(Decimal(r[3]) for r in rows)])
        volume = sum((Decimal(r[5]) for r in rows), Decimal(0))
        # the sums of the hourly klines' quote volumes and trade counts (see tape.py)
        stats = [ex.tape.stats(s, "1h", r) for r in rows]
        quote = sum((st.quote for st in stats), Decimal(0))
        traded = [st for st in stats if st.count]
        first_id = traded[0].first_id if traded else -1
        last_id = traded[-1].last_id if traded else -1
        count = last_id - first_id + 1 if traded else 0
        last_qty = ex.last_trade_qty(s)
        change = last - open_
        return {
            "symbol": s,
            "priceChange": spec.fmt_price(change),
            "priceChangePercent": f"{(change / open_ * 100).quantize(Decimal('0.001')):f}",
            "weightedAvgPrice": spec.fmt_price(quote / volume if volume else last),
            "lastPrice": spec.fmt_price(last),
            "lastQty": spec.fmt_qty(last_qty),
            "openPrice": spec.fmt_price(open_),
            "highPrice": spec.fmt_price(high),
            "lowPrice": spec.fmt_price(low),
            "volume": f"{volume:f}",
            "quoteVolume": f"{quote:f}",
            "openTime": end - 86_400_000,
            "closeTime": end - 1,
            "firstId": first_id,
            "lastId": last_id,
            "count": count,
        }

    return _each(p, one)


def book_ticker(fb: FakeBinance, p: dict[str, str]) -> Any:
    ex = fb.exchange

    def one(s: str) -> dict[str, Any]:
        bids, asks = ex.market(s).book.snapshot(1)
        return {
            "symbol": s,
            "bidPrice": bids[0][0],
            "bidQty": bids[0][1],
            "askPrice": asks[0][0],
            "askQty": asks[0][1],
            "time": ex.now(),
            "lastUpdateId": ex.market(s).book.update_id,
        }

    return _each(p, one)


def premium_index(fb: FakeBinance, p: dict[str, str]) -> Any:
    return _each(p, fb.exchange.premium_index)


def funding_rate(fb: FakeBinance, p: dict[str, str]) -> Any:
    limit = max(1, min(params.integer(p, "limit", 100) or 100, 1000))
    start, end = params.integer(p, "startTime"), params.integer(p, "endTime")
    symbols = [get_spec(p["symbol"]).symbol] if p.get("symbol") else list(SPECS)
    ex = fb.exchange
    end = min(end if end is not None else ex.market_time, ex.market_time)
    rows: list[dict[str, Any]] = []
    for s in symbols:
        times, rates = ex.data.funding(s)
        picked = [
            (t, r)
            for t, r in zip(times, rates, strict=True)
            if t <= end and (start is None or t >= start)
        ]
        picked = picked[:limit] if start is not None else picked[-limit:]
        rows += [
            {
                "symbol": s,
                "fundingTime": t,
                "fundingRate": fmt(Decimal(r)),
                "markPrice": fmt(ex.mark_at(s, t)),
            }
            for t, r in picked
        ]
    return sorted(rows, key=lambda r: r["fundingTime"])[:limit]


def listen_key_new(fb: FakeBinance, p: dict[str, str]) -> Any:
    return {"listenKey": fb.listen_key_get_or_create()}


def listen_key_keepalive(fb: FakeBinance, p: dict[str, str]) -> Any:
    fb.listen_key_keepalive(p.get("listenKey"))
    return {"listenKey": fb.listen_key}


def listen_key_close(fb: FakeBinance, p: dict[str, str]) -> Any:
    fb.listen_key_close(p.get("listenKey"))
    return {}


ROUTES: list[Route] = [
    Route("GET", "/api/v3/ping", NONE, ping),
    Route("GET", "/api/v3/time", NONE, server_time),
    Route("GET", "/fapi/v1/ping", NONE, ping),
    Route("GET", "/fapi/v1/time", NONE, server_time),
    Route("GET", "/fapi/v1/exchangeInfo", NONE, exchange_info),
    Route("GET", "/fapi/v1/klines", NONE, klines),
    Route("GET", "/fapi/v1/depth", NONE, depth),
    Route("GET", "/fapi/v1/ticker/price", NONE, ticker_price),
    Route("GET", "/fapi/v2/ticker/price", NONE, ticker_price),
    Route("GET", "/fapi/v1/ticker/bookTicker", NONE, book_ticker),
    Route("GET", "/fapi/v1/ticker/24hr", NONE, ticker_24h),
    Route("GET", "/fapi/v1/premiumIndex", NONE, premium_index),
    Route("GET", "/fapi/v1/fundingRate", NONE, funding_rate),
    Route("POST", "/fapi/v1/listenKey", KEY, listen_key_new),
    Route("PUT", "/fapi/v1/listenKey", KEY, listen_key_keepalive),
    Route("DELETE", "/fapi/v1/listenKey", KEY, listen_key_close),
]
