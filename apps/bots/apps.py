from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "apps.bots"
    verbose_name = "Bots"
