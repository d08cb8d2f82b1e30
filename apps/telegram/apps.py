from django.apps import AppConfig


class TelegramConfig(AppConfig):
    name = "apps.telegram"
    verbose_name = "Telegram: notifications and control"

    def ready(self) -> None:
        # model changes -> notices; the embedded beat starts the worker
        from apps.telegram import receivers, worker  # noqa: F401
