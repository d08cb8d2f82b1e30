from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse

from apps.backtest.services import backtest_run_report


@staff_member_required
def backtest_report(request: HttpRequest, run_id: int) -> HttpResponse:
    """The HTML report of a backtest run (equity, drawdown, trades on the price chart)."""
    return HttpResponse(backtest_run_report(run_id=run_id))
