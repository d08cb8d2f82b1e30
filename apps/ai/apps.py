from django.apps import AppConfig


class AiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.ai"
    label = "ai"
    verbose_name = "AI models"

    def ready(self) -> None:
        from apps.ai import signals  # noqa: F401 - the re-training schedule follows the settings
