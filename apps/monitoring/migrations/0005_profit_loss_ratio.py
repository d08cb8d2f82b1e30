# The seed's name for average win / |average loss| (one definition: apps.core.domain.metrics).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0004_channel_events_telegram"),
    ]

    operations = [
        migrations.RenameField(
            model_name="performancereport",
            old_name="payoff_ratio",
            new_name="profit_loss_ratio",
        ),
        migrations.AlterField(
            model_name="performancereport",
            name="profit_loss_ratio",
            field=models.DecimalField(
                blank=True,
                decimal_places=8,
                help_text="Profit/loss ratio: average win / |average loss|; empty: no loss.",
                max_digits=32,
                null=True,
            ),
        ),
    ]
