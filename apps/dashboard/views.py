from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.dashboard.selectors import dashboard_context


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/index.html", dashboard_context())
