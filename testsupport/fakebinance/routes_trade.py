"""Signed trading and account endpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import errors, params
from .accounts import MAX_NOTIONAL, fmt
from .routes import SIGNED, Route
from .symbols import SPECS, get_spec

if TYPE_CHECKING:
    from .server import FakeBinance


def new_order(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.engine.place(p)


def modify_order(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.engine.modify(p)


def get_order(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.engine.find(p).as_json()


def cancel_order(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.engine.cancel(p)


def open_orders(fb: FakeBinance, p: dict[str, str]) -> Any:
    symbol = get_spec(p["symbol"]).symbol if p.get("symbol") else None
    return [o.as_json() for o in fb.exchange.engine.open_orders(symbol)]


def cancel_all(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.engine.cancel_all(p)


def new_algo(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.algos.place(p)


def get_algo(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.algos.query(p)


def cancel_algo(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.algos.cancel(p)


def open_algos(fb: FakeBinance, p: dict[str, str]) -> Any:
    symbol = get_spec(p["symbol"]).symbol if p.get("symbol") else None
    algos = fb.exchange.algos
    return [a.as_json(algos._actual(a), view="list") for a in algos.open_algos(symbol)]


def cancel_all_algos(fb: FakeBinance, p: dict[str, str]) -> Any:
    return fb.exchange.algos.cancel_all(p)


def leverage(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    lev = params.integer(p, "leverage")
    if lev is None:
        raise errors.missing("leverage")
    if not 1 <= lev <= spec.max_leverage:
        raise errors.err(errors.LEVERAGE, lev)
    fb.exchange.account.leverage[spec.symbol] = lev
    fb.exchange.emit_user(
        {"e": "ACCOUNT_CONFIG_UPDATE", "T": fb.exchange.now(), "ac": {"s": spec.symbol, "l": lev}}
    )
    return {"leverage": lev, "maxNotionalValue": MAX_NOTIONAL, "symbol": spec.symbol}


def margin_type(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    mt = params.choice(p, "marginType", ("ISOLATED", "CROSSED"), -1102, "Invalid marginType.")
    new = "isolated" if mt == "ISOLATED" else "cross"
    acct = fb.exchange.account
    if acct.margin_type.get(spec.symbol, "cross") == new:
        raise errors.err(errors.NO_CHANGE_MARGIN)
    if any(p.amt for (s, _), p in acct.positions.items() if s == spec.symbol) or (
        fb.exchange.engine.open_orders(spec.symbol)
    ):
        raise errors.BinanceError(
            -4047, "Margin type cannot be changed if there exists open orders."
        )
    acct.margin_type[spec.symbol] = new
    return {"code": 200, "msg": "success"}


def get_dual(fb: FakeBinance, p: dict[str, str]) -> Any:
    return {"dualSidePosition": fb.exchange.account.dual_side}


def set_dual(fb: FakeBinance, p: dict[str, str]) -> Any:
    dual = params.boolean(p, "dualSidePosition")
    if dual is None:
        raise errors.missing("dualSidePosition")
    acct = fb.exchange.account
    if dual == acct.dual_side:
        raise errors.err(errors.NO_CHANGE_MODE)
    if any(pos.amt for pos in acct.positions.values()) or fb.exchange.engine.open_orders():
        raise errors.BinanceError(
            -4068, "Position side cannot be changed if there exists position."
        )
    acct.dual_side = dual
    return {"code": 200, "msg": "success"}


def symbol_config(fb: FakeBinance, p: dict[str, str]) -> Any:
    acct = fb.exchange.account
    symbols = [get_spec(p["symbol"]).symbol] if p.get("symbol") else list(SPECS)
    return [
        {
            "symbol": s,
            "marginType": "ISOLATED" if acct.margin_type.get(s) == "isolated" else "CROSSED",
            "isAutoAddMargin": "false",
            "leverage": acct.lev(s),
            "maxNotionalValue": MAX_NOTIONAL,
        }
        for s in symbols
    ]


def _figures(fb: FakeBinance) -> dict[str, str]:
    ex = fb.exchange
    acct, marks = ex.account, ex.marks()
    upnl = acct.unrealized(marks)
    pos_im = acct.position_margin(marks)
    order_im = ex.engine.order_margin()
    avail = acct.available(marks, order_im)
    return {
        "walletBalance": fmt(acct.wallet),
        "unrealizedProfit": fmt(upnl),
        "marginBalance": fmt(acct.wallet + upnl),
        "maintMargin": fmt(acct.maint_margin(marks)),
        "initialMargin": fmt(pos_im + order_im),
        "positionInitialMargin": fmt(pos_im),
        "openOrderInitialMargin": fmt(order_im),
        "crossWalletBalance": fmt(acct.wallet),
        "crossUnPnl": fmt(upnl),
        "availableBalance": fmt(avail),
        "maxWithdrawAmount": fmt(max(avail, acct.wallet * 0)),
    }


def _order_notional(fb: FakeBinance) -> dict[tuple[str, str], list[Decimal]]:
    """Return the open orders' [bid, ask] notional per (symbol, positionSide)."""
    out: dict[tuple[str, str], list[Decimal]] = {}
    for o in fb.exchange.engine.open_orders():
        row = out.setdefault((o.symbol, o.position_side), [Decimal(0), Decimal(0)])
        row[0 if o.side == "BUY" else 1] += o.remaining * o.price
    return out


def _positions(
    fb: FakeBinance, version: int, only_open: bool, *, account_shape: bool = False
) -> list[dict[str, Any]]:
    ex = fb.exchange
    acct = ex.account
    sides = ("LONG", "SHORT") if acct.dual_side else ("BOTH",)
    busy = {o.symbol for o in ex.engine.open_orders()}
    notional = _order_notional(fb)
    render = acct.account_position_json if account_shape else acct.position_json
    rows = []
    for symbol in SPECS:
        for side in sides:
            pos = acct.position(symbol, side)
            if only_open and not pos.amt and symbol not in busy:
                continue
            bid, ask = notional.get((symbol, side), (Decimal(0), Decimal(0)))
            rows.append(render(pos, ex.market(symbol).mark, version, bid, ask))
    return rows


def account(version: int) -> Any:
    def handler(fb: FakeBinance, p: dict[str, str]) -> Any:
        f = _figures(fb)
        asset: dict[str, Any] = {"asset": "USDT", **f}
        if version == 2:
            asset["marginAvailable"] = True  # v3's asset entries do not carry it
        asset["updateTime"] = fb.exchange.account.update_time
        totals = {
            "totalInitialMargin": f["initialMargin"],
            "totalMaintMargin": f["maintMargin"],
            "totalWalletBalance": f["walletBalance"],
            "totalUnrealizedProfit": f["unrealizedProfit"],
            "totalMarginBalance": f["marginBalance"],
            "totalPositionInitialMargin": f["positionInitialMargin"],
            "totalOpenOrderInitialMargin": f["openOrderInitialMargin"],
            "totalCrossWalletBalance": f["crossWalletBalance"],
            "totalCrossUnPnl": f["crossUnPnl"],
            "availableBalance": f["availableBalance"],
            "maxWithdrawAmount": f["maxWithdrawAmount"],
        }
        head: dict[str, Any] = {}
        if version == 2:
            head = {
                "feeTier": fb.exchange.account.fee_tier,  # 0 = VIP 0, the rates the fake charges
                "feeBurn": False,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": 0,  # "reserved property, please ignore": Binance sends 0
                "multiAssetsMargin": False,
                "tradeGroupId": -1,  # -1: not in a trade group, as Binance sends
            }
        return {
            **head,
            **totals,
            "assets": [asset],
            "positions": _positions(fb, version, only_open=version == 3, account_shape=True),
        }

    return handler


def balance(fb: FakeBinance, p: dict[str, str]) -> Any:
    f = _figures(fb)
    return [
        {
            "accountAlias": "SgsR",
            "asset": "USDT",
            "balance": f["walletBalance"],
            "crossWalletBalance": f["crossWalletBalance"],
            "crossUnPnl": f["crossUnPnl"],
            "availableBalance": f["availableBalance"],
            "maxWithdrawAmount": f["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": fb.exchange.account.update_time,
        }
    ]


def position_risk(version: int) -> Any:
    def handler(fb: FakeBinance, p: dict[str, str]) -> Any:
        rows = _positions(fb, version, only_open=version == 3)
        if p.get("symbol"):
            symbol = get_spec(p["symbol"]).symbol
            rows = [r for r in rows if r["symbol"] == symbol]
        return rows

    return handler


def user_trades(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    limit = max(1, min(params.integer(p, "limit", 500) or 500, 1000))
    start, end = params.integer(p, "startTime"), params.integer(p, "endTime")
    from_id, order_id = params.integer(p, "fromId"), params.integer(p, "orderId")
    rows = [
        t
        for t in fb.exchange.account.trades
        if t.symbol == spec.symbol
        and (start is None or t.time >= start)
        and (end is None or t.time <= end)
        and (from_id is None or t.id >= from_id)
        and (order_id is None or t.order_id == order_id)
    ]
    rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
    return [t.as_json() for t in rows]


def all_orders(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    limit = max(1, min(params.integer(p, "limit", 500) or 500, 1000))
    start, end = params.integer(p, "startTime"), params.integer(p, "endTime")
    from_id = params.integer(p, "orderId")
    rows = [
        o
        for o in fb.exchange.engine.orders.values()
        if o.symbol == spec.symbol
        and (from_id is None or o.order_id >= from_id)
        and (start is None or o.time >= start)
        and (end is None or o.time <= end)
    ]
    rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
    return [o.as_json() for o in rows]


def all_algos(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    limit = max(1, min(params.integer(p, "limit", 500) or 500, 1000))
    algos = fb.exchange.algos
    rows = [a for a in algos.algos.values() if a.symbol == spec.symbol][-limit:]
    return [a.as_json(algos._actual(a), view="list") for a in rows]


def income(fb: FakeBinance, p: dict[str, str]) -> Any:
    limit = max(1, min(params.integer(p, "limit", 100) or 100, 1000))
    start, end = params.integer(p, "startTime"), params.integer(p, "endTime")
    symbol = get_spec(p["symbol"]).symbol if p.get("symbol") else None
    kind = p.get("incomeType")
    rows = [
        r
        for r in fb.exchange.account.income
        if (symbol is None or r["symbol"] == symbol)
        and (kind is None or r["incomeType"] == kind)
        and (start is None or r["time"] >= start)
        and (end is None or r["time"] <= end)
    ]
    return rows[:limit] if start is not None else rows[-limit:]


def commission_rate(fb: FakeBinance, p: dict[str, str]) -> Any:
    spec = get_spec(p.get("symbol"))
    acct = fb.exchange.account
    return {
        "symbol": spec.symbol,
        "makerCommissionRate": f"{acct.maker_fee:f}",
        "takerCommissionRate": f"{acct.taker_fee:f}",
    }


ROUTES: list[Route] = [
    Route("POST", "/fapi/v1/order", SIGNED, new_order, counts_order=True),
    Route("PUT", "/fapi/v1/order", SIGNED, modify_order, counts_order=True),
    Route("GET", "/fapi/v1/order", SIGNED, get_order),
    Route("DELETE", "/fapi/v1/order", SIGNED, cancel_order),
    Route("GET", "/fapi/v1/openOrders", SIGNED, open_orders),
    Route("DELETE", "/fapi/v1/allOpenOrders", SIGNED, cancel_all),
    Route("POST", "/fapi/v1/algoOrder", SIGNED, new_algo, counts_order=True),
    Route("GET", "/fapi/v1/algoOrder", SIGNED, get_algo),
    Route("DELETE", "/fapi/v1/algoOrder", SIGNED, cancel_algo),
    Route("GET", "/fapi/v1/openAlgoOrders", SIGNED, open_algos),
    Route("DELETE", "/fapi/v1/algoOpenOrders", SIGNED, cancel_all_algos),
    Route("POST", "/fapi/v1/leverage", SIGNED, leverage),
    Route("POST", "/fapi/v1/marginType", SIGNED, margin_type),
    Route("GET", "/fapi/v1/positionSide/dual", SIGNED, get_dual),
    Route("POST", "/fapi/v1/positionSide/dual", SIGNED, set_dual),
    Route("GET", "/fapi/v1/symbolConfig", SIGNED, symbol_config),
    Route("GET", "/fapi/v2/account", SIGNED, account(2)),
    Route("GET", "/fapi/v3/account", SIGNED, account(3)),
    Route("GET", "/fapi/v2/balance", SIGNED, balance),
    Route("GET", "/fapi/v3/balance", SIGNED, balance),
    Route("GET", "/fapi/v2/positionRisk", SIGNED, position_risk(2)),
    Route("GET", "/fapi/v3/positionRisk", SIGNED, position_risk(3)),
    Route("GET", "/fapi/v1/userTrades", SIGNED, user_trades),
    Route("GET", "/fapi/v1/allOrders", SIGNED, all_orders),
    Route("GET", "/fapi/v1/allAlgoOrders", SIGNED, all_algos),
    Route("GET", "/fapi/v1/income", SIGNED, income),
    Route("GET", "/fapi/v1/commissionRate", SIGNED, commission_rate),
]
