"""Optional HTTP control endpoints under /_fake/ (JSON bodies; no auth; 127.0.0.1 only).

POST /_fake/price {"symbol", "price", "mark"?}; POST /_fake/replay {"symbol", "interval"?,
"start"?, "count"?}; POST /_fake/time {"advance_ms"} or {"market_time"}; POST /_fake/fault
{"kind": "fail"|"unknown"|"delay"|"timestamp"|"partial"|"drop"|"clear", "path"?, "count"?,
"status"?, "seconds"?, "fraction"?}; POST /_fake/reset-limits; GET /_fake/state; GET /_fake/dump
(every order, algo order, trade and position, for checks that the records equal the venue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import FakeBinance


def register(app: web.Application, fb: FakeBinance) -> None:
    async def body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="JSON body expected") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return data

    async def price(request: web.Request) -> web.Response:
        d = await body(request)
        fb.set_price(str(d["symbol"]), str(d["price"]), str(d["mark"]) if d.get("mark") else None)
        return web.json_response({"symbol": d["symbol"], "price": str(fb.price(d["symbol"]))})

    async def replay(request: web.Request) -> web.Response:
        d = await body(request)
        rows = fb.exchange.replay(
            str(d["symbol"]), str(d.get("interval", "1m")), d.get("start"), int(d.get("count", 1))
        )
        return web.json_response({"replayed": len(rows), "marketTime": fb.exchange.market_time})

    async def clock(request: web.Request) -> web.Response:
        d = await body(request)
        if "market_time" in d:
            fb.exchange.set_market_time(int(d["market_time"]))
        else:
            fb.exchange.advance_time(int(d.get("advance_ms", 0)))
        return web.json_response({"marketTime": fb.exchange.market_time})

    async def fault(request: web.Request) -> web.Response:
        d = await body(request)
        kind, path, count = d.get("kind"), d.get("path"), int(d.get("count", 1))
        faults = fb.faults
        if kind == "fail":
            faults.fail_next(path, count=count, status=int(d.get("status", 500)))
        elif kind == "unknown":
            faults.unknown_after_place(path or "/fapi/v1/order", count=count)
        elif kind == "delay":
            faults.delay_next(float(d.get("seconds", 5)), path, count=count)
        elif kind == "timestamp":
            faults.timestamp_error_next(path, count=count)
        elif kind == "partial":
            faults.partial_fill_next(str(d.get("fraction", "0.5")), count=count)
        elif kind == "drop":
            return web.json_response({"dropped": await faults.drop_websockets()})
        elif kind == "clear":
            faults.clear()
        else:
            raise web.HTTPBadRequest(text=f"unknown fault kind {kind!r}")
        return web.json_response({"ok": True})

    async def reset_limits(request: web.Request) -> web.Response:
        fb.limiter.reset()
        return web.json_response({"ok": True})

    async def state(request: web.Request) -> web.Response:
        ex = fb.exchange
        return web.json_response(
            {
                "marketTime": ex.market_time,
                "prices": {s: str(m.last) for s, m in ex.markets.items()},
                "wallet": str(ex.account.wallet),
                "openOrders": len(ex.engine.open_orders()),
                "openAlgoOrders": len(ex.algos.open_algos()),
                "websockets": len(fb.hub.connections),
            }
        )

    async def dump(request: web.Request) -> web.Response:
        ex = fb.exchange
        return web.json_response(
            {
                "orders": [o.as_json() for o in ex.engine.orders.values()],
                "algos": [a.as_json() for a in ex.algos.algos.values()],
                "trades": [t.as_json() | {"symbol": t.symbol} for t in ex.account.trades],
                "positions": [
                    {"symbol": s, "positionSide": side, "positionAmt": str(p.amt)}
                    for (s, side), p in ex.account.positions.items()
                ],
                "wallet": str(ex.account.wallet),
                "prices": {s: str(m.last) for s, m in ex.markets.items()},
            }
        )

    app.router.add_get("/_fake/dump", dump)
    app.router.add_post("/_fake/price", price)
    app.router.add_post("/_fake/replay", replay)
    app.router.add_post("/_fake/time", clock)
    app.router.add_post("/_fake/fault", fault)
    app.router.add_post("/_fake/reset-limits", reset_limits)
    app.router.add_get("/_fake/state", state)
