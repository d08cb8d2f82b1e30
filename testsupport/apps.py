from django.apps import AppConfig


class TestSupportConfig(AppConfig):
    name = "testsupport"
    verbose_name = "Test support (fake Binance)"
