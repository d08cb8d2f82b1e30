"""Two more notification events (a stop-loss re-placement rejected by the venue; an exit order
of an ended trade filled): the outbox's kind choices, and every existing channel that chose
``reconciliation`` (records and venue disagree) gets them too. New channels get them by default
(``default_notification_events``)."""

from django.db import migrations, models

NEW = ("stop_rejected", "ended_trade_fill")


def _add_to_reconciliation_channels(apps, schema_editor):
    Channel = apps.get_model("monitoring", "NotificationChannel")
    for channel in Channel.objects.all():
        events = list(channel.events or [])
        if "reconciliation" in events and not set(NEW) <= set(events):
            channel.events = events + [e for e in NEW if e not in events]
            channel.save(update_fields=["events"])


def _remove(apps, schema_editor):
    Channel = apps.get_model("monitoring", "NotificationChannel")
    for channel in Channel.objects.all():
        events = list(channel.events or [])
        if set(NEW) & set(events):
            channel.events = [e for e in events if e not in NEW]
            channel.save(update_fields=["events"])


class Migration(migrations.Migration):
    dependencies = [
        ("telegram", "0001_initial"),
        ("monitoring", "0004_channel_events_telegram"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notice",
            name="kind",
            field=models.CharField(
                choices=[
                    ("alert", "Performance alerts (the review's thresholds)"),
                    ("trade_opened", "Trade opened"),
                    ("trade_closed", "Trade closed (with PnL)"),
                    ("breaker", "Circuit breaker tier changes"),
                    ("kill_switch", "Kill switch engaged"),
                    ("halt", "Bot halted or paused by the platform (errors)"),
                    ("reconciliation", "Reconciliation problems (records and venue disagree)"),
                    (
                        "stop_rejected",
                        "Stop-loss the reconciliation re-placed rejected by the venue",
                    ),
                    ("ended_trade_fill", "Exit order of an ended trade filled (not booked)"),
                    ("operator", "Bot paused or resumed by an operator"),
                    ("daily_summary", "Daily summary (UTC day)"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(_add_to_reconciliation_channels, _remove),
    ]
