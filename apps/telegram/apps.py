from django.apps import AppConfig


class TelegramConfig(AppConfig):
    name = "apps.telegram"
    verbose_name = "Telegram: notifications and control"

    def ready(self) -> None:
        # model changes -> notices; the embedded beat starts the worker
        from apps.monitoring.models import NotificationChannel
        from apps.monitoring.notifications import sender_register
        from apps.telegram import receivers, worker  # noqa: F401
        from apps.telegram.delivery import send_telegram

        sender_register(NotificationChannel.Kind.TELEGRAM, send_telegram)
