"""Create the default alert rule, so its thresholds are visible and editable in the admin."""

from django.db import migrations


def create_default_rule(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    if not AlertRule.objects.filter(bot__isnull=True).exists():
        AlertRule.objects.create(bot=None)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [migrations.RunPython(create_default_rule, migrations.RunPython.noop)]
