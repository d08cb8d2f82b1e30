from django.apps import AppConfig


class BacktestConfig(AppConfig):
    name = "apps.backtest"
    verbose_name = "Backtests"

    def ready(self) -> None:
        from apps.backtest import signals  # noqa: F401 - the re-optimisation schedule
