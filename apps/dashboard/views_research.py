"""The cockpit's research pages (staff only): start a backtest from a form and watch it, read a
finished run, compare two runs, follow an optimisation.

The form takes what the backtest API takes (``apps.backtest.apis.BacktestStartSerializer``
checks it, so the page and the API accept the same requests) and starts the run the way the
API does: a queued ``BacktestRun`` and the ``backtest.run`` task once the row is committed.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.shortcuts import render as django_render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from apps.backtest.apis import BACKTEST_STRATEGIES, BacktestStartSerializer, backtest_start
from apps.backtest.models import BacktestRun, OptimizationRun
from apps.bots import access
from apps.dashboard import selectors_research as sel
from apps.exchange.domain.fees import DEFAULT_FEES
from apps.exchange.domain.types import datetime_to_ms
from apps.market.domain.candles import interval_to_ms
from apps.strategies.domain.params import SCHEMAS

#: The AI strategy needs a trained model, which the backtest API cannot be given: not offered.
FORM_STRATEGIES = [kind for kind in BACKTEST_STRATEGIES if kind != "ai"]
DEFAULTS = {
    "strategy": "ema_cross",
    "market": "futures",
    "symbols": ["BTCUSDT"],
    "interval": "1h",
    "start": "2025-01-01",
    "end": "2025-07-01",
    "fee": str(DEFAULT_FEES.taker),
    "maker_fee": str(DEFAULT_FEES.maker),
    "stake": "1000",
    "cash": "10000",
    "slippage": "book",
    "leverage": "1",
    "maintenance_margin": "0.004",
    "intrabar": "stop_first",
}
MAX_POLL_IDS = 200


def _choices(values: list[str]) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


class BacktestForm(forms.Form):
    """The backtest options; numbers stay text here and are checked by the API's serializer."""

    strategy = forms.ChoiceField(
        choices=[(kind, f"{SCHEMAS[kind].title} ({kind})") for kind in FORM_STRATEGIES]
    )
    params = forms.CharField(
        required=False,
        label="Parameters (JSON; empty: the strategy's defaults)",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
    )
    market = forms.ChoiceField()
    symbols = forms.MultipleChoiceField(
        label="Symbol(s)", widget=forms.SelectMultiple(attrs={"size": 4})
    )
    interval = forms.ChoiceField()
    start = forms.DateField(
        required=False,
        label="From (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        required=False,
        label="To (UTC, exclusive)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    fee = forms.CharField(label="Taker fee (fraction)")
    maker_fee = forms.CharField(required=False, label="Maker fee (take-profits; empty: taker)")
    stake = forms.CharField(label="Stake per trade")
    cash = forms.CharField(label="Starting cash")
    slippage = forms.ChoiceField(choices=_choices(["book", "none"]))
    leverage = forms.CharField()
    maintenance_margin = forms.CharField(label="Maintenance margin")
    intrabar = forms.ChoiceField(
        choices=_choices(["stop_first", "path"]), label="Stop and take-profit in one candle"
    )

    def __init__(self, *args: Any, catalogue: dict[str, dict[str, list[str]]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.catalogue = catalogue
        symbols = sorted({s for market in catalogue.values() for s in market})
        intervals = sorted(
            {i for market in catalogue.values() for ivs in market.values() for i in ivs},
            key=interval_to_ms,
        )
        self.fields["market"].choices = _choices(list(catalogue))
        self.fields["symbols"].choices = _choices(symbols)
        self.fields["interval"].choices = _choices(intervals)

    def clean_params(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("params") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"not valid JSON ({exc.msg} at column {exc.colno})"
            ) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('a JSON object, e.g. {"fast": 12, "slow": 26}')
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            raise forms.ValidationError("the end date must be after the start date")
        market, interval = data.get("market"), data.get("interval")
        files = []
        for symbol in data.get("symbols") or []:
            if not market or not interval:
                break
            name = sel.data_file_name(market, symbol, interval)
            if name is None:
                have = ", ".join(self.catalogue.get(market, {}).get(symbol, [])) or "none"
                raise forms.ValidationError(
                    f"no {interval} {market} data for {symbol} (intervals available: {have})"
                )
            first, last = sel.data_file_span(name)
            start_ms = _day_ms(start)
            end_ms = _day_ms(end)
            if (start_ms is not None and start_ms > last) or (
                end_ms is not None and end_ms <= first
            ):
                raise forms.ValidationError(
                    f"no {symbol} {interval} candles from {start or 'the start'} to "
                    f"{end or 'the end'} (the data holds {sel.ms_to_day(first)} to "
                    f"{sel.ms_to_day(last)})"
                )
            files.append(name)
        data["data_files"] = files
        return data

    def api_payload(self) -> dict[str, Any]:
        """The backtest API's request body for this form."""
        d = self.cleaned_data
        payload: dict[str, Any] = {
            "strategy": d["strategy"],
            "params": d["params"],
            "data": d["data_files"],
            "symbols": d["symbols"],
            "fee": d["fee"].strip(),
            "stake": d["stake"].strip(),
            "cash": d["cash"].strip(),
            "slippage": d["slippage"],
            "leverage": d["leverage"].strip(),
            "maintenance_margin": d["maintenance_margin"].strip(),
            "maker_fee": (d.get("maker_fee") or "").strip() or None,
            "intrabar": d["intrabar"],
        }
        for key in ("start", "end"):
            if d.get(key):
                payload[key] = f"{d[key].isoformat()}T00:00:00Z"
        return payload


def _day_ms(day: date | None) -> int | None:
    if day is None:
        return None
    return datetime_to_ms(datetime.combine(day, time(0), tzinfo=UTC))


_SHORT_LABELS = {"params": "Parameters", "data": "Symbol(s)", "symbols": "Symbol(s)"}


def _label(form: BacktestForm, name: str) -> str:
    if name in _SHORT_LABELS:
        return _SHORT_LABELS[name]
    return str(form[name].label) if name in form.fields else name.replace("_", " ")


def _flatten(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in _flatten(value)]
    if isinstance(errors, list | tuple):
        return [m for value in errors for m in _flatten(value)]
    return [str(errors)]


def one_line_error(form: BacktestForm, errors: dict[str, Any]) -> str:
    """Every problem of the form in one line: ``field: message; field: message``."""
    parts = []
    for name, value in errors.items():
        messages = " ".join(_flatten(value)).replace("\n", " ")
        field = "" if name in ("__all__", "non_field_errors") else name
        parts.append(f"{_label(form, field)}: {messages}" if field else messages)
    return "; ".join(parts)


def render(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a research page (the cockpit's nav marks Research)."""
    return django_render(request, template, {"nav": "research", **context}, status=status)


def _strategy_defaults() -> dict[str, Any]:
    out = {}
    for kind in FORM_STRATEGIES:
        schema = SCHEMAS[kind]
        out[kind] = {
            "title": schema.title,
            "description": schema.description,
            "defaults": {
                p.name: (float(p.default) if not isinstance(p.default, int | float) else p.default)
                for p in schema.params
            },
            "help": {p.name: p.help for p in schema.params if p.help},
        }
    return out


def _index_context(
    form: BacktestForm, error: str = "", started: int | None = None, *, can_start: bool = False
) -> dict:
    return {
        "can_start": can_start,
        "form": form,
        "error": error,
        "started": started,
        "catalogue": form.catalogue,
        "strategy_defaults": _strategy_defaults(),
        "backtests": sel.backtest_rows(),
        "optimizations": sel.optimization_rows(),
        "trainings": sel.training_rows(),
        "done_runs": [
            (run.pk, f"#{run.pk} {run.strategy} {', '.join(run.symbols or [])}")
            for run in BacktestRun.objects.filter(status=BacktestRun.Status.DONE)[:100]
        ],
        "progress_url": reverse("research-progress"),
    }


@staff_member_required
@require_http_methods(["GET", "POST"])
def research_index(request: HttpRequest) -> HttpResponse:
    """The runs, and the form that starts a backtest (POST: start it, then back here; both
    need ``backtest.start_backtest``, without it the page shows the runs only)."""
    catalogue = sel.data_catalogue()
    can_start = access.may(request.user, access.START_BACKTEST)
    if request.method == "POST" and not can_start:
        form = BacktestForm(catalogue=catalogue)
        context = _index_context(
            form, "you may not start backtests (backtest.start_backtest; ask an administrator)"
        )
        return render(request, "dashboard/research/index.html", context, status=403)
    if request.method == "POST":
        form = BacktestForm(request.POST, catalogue=catalogue)
        if not catalogue:
            error = "no kline files under the data directory (SHARED_DATA_DIR)"
        elif not form.is_valid():
            error = one_line_error(form, {k: list(v) for k, v in form.errors.items()})
        else:
            api = BacktestStartSerializer(data=form.api_payload())
            if api.is_valid():
                run = backtest_start(api.validated_data, user=request.user, via="cockpit")
                return redirect(f"{reverse('research')}?started={run.pk}#run-{run.pk}")
            error = one_line_error(form, api.errors)
        context = _index_context(form, error, can_start=True)
        return render(request, "dashboard/research/index.html", context)
    initial = {**DEFAULTS, "params": json.dumps(SCHEMAS[DEFAULTS["strategy"]].defaults())}
    form = BacktestForm(initial=initial, catalogue=catalogue)
    started = request.GET.get("started", "")
    return render(
        request,
        "dashboard/research/index.html",
        _index_context(
            form, started=int(started) if started.isdigit() else None, can_start=can_start
        ),
    )


def _ids(request: HttpRequest, name: str) -> list[int]:
    raw = request.GET.get(name, "")
    return [int(x) for x in raw.split(",") if x.strip().isdigit()][:MAX_POLL_IDS]


@staff_member_required
@require_GET
def research_progress(request: HttpRequest) -> JsonResponse:
    """``?backtests=1,2&optimizations=3&models=4``: those runs' rows and progress."""
    return JsonResponse(
        sel.progress_payload(
            backtests=_ids(request, "backtests"),
            optimizations=_ids(request, "optimizations"),
            models=_ids(request, "models"),
        )
    )


@staff_member_required
@require_GET
def backtest_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(BacktestRun, pk=run_id)
    return render(request, "dashboard/research/backtest.html", sel.backtest_detail(run))


@staff_member_required
@require_GET
def backtest_compare(request: HttpRequest) -> HttpResponse:
    """``?a=<id>&b=<id>``: two finished runs side by side (without both: a chooser)."""
    raw_a, raw_b = request.GET.get("a", "").strip(), request.GET.get("b", "").strip()
    done = BacktestRun.objects.filter(status=BacktestRun.Status.DONE)
    context: dict[str, Any] = {
        "a_id": raw_a,
        "b_id": raw_b,
        "choices": [
            (run.pk, f"#{run.pk} {run.strategy} {', '.join(run.symbols or [])}")
            for run in done[:100]
        ],
        "error": "",
        "a": None,
        "b": None,
    }
    if not raw_a and not raw_b:
        return render(request, "dashboard/research/compare.html", context)
    runs = []
    for name, raw in (("a", raw_a), ("b", raw_b)):
        run = BacktestRun.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        if run is None:
            context["error"] = f"{name}: no backtest run {raw!r}" if raw else f"{name}: pick a run"
        elif run.status != BacktestRun.Status.DONE:
            context["error"] = f"{name}: run {run.pk} is {run.status}, not done"
        runs.append(run)
        if context["error"]:
            return render(request, "dashboard/research/compare.html", context)
    a, b = runs
    context.update({"a": a, "b": b, **sel.backtest_compare(a, b)})
    return render(request, "dashboard/research/compare.html", context)


@staff_member_required
@require_GET
def optimization_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(OptimizationRun, pk=run_id)
    return render(request, "dashboard/research/optimization.html", sel.optimization_detail(run))


@staff_member_required
@require_GET
def optimization_data(request: HttpRequest, run_id: int) -> JsonResponse:
    """The optimisation page's poll: progress and the per-window figures so far."""
    return JsonResponse(sel.optimization_data(get_object_or_404(OptimizationRun, pk=run_id)))
