from __future__ import annotations

from django.db import models


class Kline(models.Model):
    """One closed candle of a symbol and interval (times in ms UTC, as Binance sends them)."""

    symbol = models.CharField(max_length=32)
    interval = models.CharField(max_length=8)
    open_time = models.BigIntegerField(help_text="Candle open time, ms since the epoch (UTC).")
    open = models.DecimalField(max_digits=24, decimal_places=10)
    high = models.DecimalField(max_digits=24, decimal_places=10)
    low = models.DecimalField(max_digits=24, decimal_places=10)
    close = models.DecimalField(max_digits=24, decimal_places=10)
    volume = models.DecimalField(max_digits=30, decimal_places=10)

    class Meta:
        ordering = ["symbol", "interval", "open_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "interval", "open_time"], name="kline_symbol_interval_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.interval} @{self.open_time}"


class FundingRate(models.Model):
    """A settled funding rate of a perpetual (per 8-hour interval, as a fraction)."""

    symbol = models.CharField(max_length=32)
    funding_time = models.BigIntegerField(help_text="Settlement time, ms since the epoch (UTC).")
    rate = models.DecimalField(max_digits=20, decimal_places=12)

    class Meta:
        ordering = ["symbol", "funding_time"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "funding_time"], name="funding_symbol_time"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} @{self.funding_time}: {self.rate}"


class ReplayClock(models.Model):
    """The replayed market clock of the embedded demo, kept so that a restart resumes market
    time where it stopped (one row). Market time = ``anchor_market`` + (wall - ``anchor_wall``)
    x speed; ``last_market`` is the market time last seen, written every few seconds."""

    replay_start = models.CharField(max_length=64, help_text="MARKET_REPLAY_START it runs from.")
    anchor_market = models.DateTimeField()
    anchor_wall = models.DateTimeField()
    last_market = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"replay clock from {self.replay_start}, last at {self.last_market:%Y-%m-%d %H:%M}"
