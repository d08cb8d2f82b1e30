from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "apps.trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        # the tasks module registers the lease's release hook (a released bot hands its oldest
        # waiting signal to a worker) in every process, the web's kill switch included
        from apps.trading import tasks  # noqa: F401
