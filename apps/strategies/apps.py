from django.apps import AppConfig


class StrategiesConfig(AppConfig):
    name = "apps.strategies"
    verbose_name = "Strategies"
