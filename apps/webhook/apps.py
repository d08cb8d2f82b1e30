from django.apps import AppConfig


class WebhookConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.webhook"
    verbose_name = "Webhook (TradingView signals)"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.bots.models import Bot
        from apps.exchange.models import Instrument
        from apps.strategies.models import Strategy
        from apps.webhook.selectors import webhook_lookups_clear

        for model in (Bot, Strategy, Instrument):
            for signal in (post_save, post_delete):
                signal.connect(
                    webhook_lookups_clear, sender=model, dispatch_uid=f"webhook-{model.__name__}"
                )
