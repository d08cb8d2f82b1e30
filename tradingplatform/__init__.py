"""The Django project: settings, URL and ASGI routing, and the Celery application."""

from tradingplatform.celery import app as celery_app

__all__ = ["celery_app"]
