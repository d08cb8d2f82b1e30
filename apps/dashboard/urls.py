"""The cockpit: pages, their JSON snapshots and the operator's actions (all staff only)."""

from django.urls import include, path

from apps.dashboard import apis, views
from apps.dashboard.views import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("portfolio/", views.portfolio, name="cockpit-portfolio"),
    path("bots/<slug:name>/", views.bot_page, name="cockpit-bot"),
    path("bots/<slug:name>/trades.csv", views.bot_trades_csv, name="cockpit-bot-trades-csv"),
    path("api/cockpit/snapshot/", apis.snapshot, name="cockpit-snapshot"),
    path("api/cockpit/portfolio/", apis.portfolio_snapshot_api, name="cockpit-portfolio-snapshot"),
    path("api/cockpit/bots/<slug:name>/", apis.bot_snapshot_api, name="cockpit-bot-snapshot"),
    path("api/cockpit/bots/<slug:name>/pause/", apis.bot_pause_api, name="cockpit-bot-pause"),
    path("api/cockpit/bots/<slug:name>/resume/", apis.bot_resume_api, name="cockpit-bot-resume"),
    path("api/cockpit/bots/<slug:name>/kill/", apis.bot_kill_api, name="cockpit-bot-kill"),
    path("api/cockpit/killswitch/", apis.kill_all_api, name="cockpit-kill-all"),
    path("research/", include("apps.dashboard.urls_research")),
    # Browsers ask for /favicon.ico on every page (the admin's too): no 404 in their consoles.
    path("favicon.ico", views.favicon),
]
