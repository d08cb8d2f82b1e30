"""Optimisation runs on several data files: the fingerprint is stored per file.

A run created before holds one file's fingerprint (``{"candles": ..., ...}``); it becomes
``{path: fingerprint}`` so that such a run can still be resumed.
"""

from django.db import migrations, models


def fingerprint_per_file(apps, schema_editor):
    OptimizationRun = apps.get_model("backtest", "OptimizationRun")
    for run in OptimizationRun.objects.exclude(data_fingerprint={}).iterator():
        if "candles" in run.data_fingerprint and run.data_files:
            run.data_fingerprint = {run.data_files[0]: run.data_fingerprint}
            run.save(update_fields=["data_fingerprint"])


def fingerprint_of_first_file(apps, schema_editor):
    OptimizationRun = apps.get_model("backtest", "OptimizationRun")
    for run in OptimizationRun.objects.exclude(data_fingerprint={}).iterator():
        if "candles" not in run.data_fingerprint and run.data_files:
            run.data_fingerprint = run.data_fingerprint.get(run.data_files[0], {})
            run.save(update_fields=["data_fingerprint"])


class Migration(migrations.Migration):
    dependencies = [
        ("backtest", "0003_run_execution_summary"),
    ]

    operations = [
        migrations.AlterField(
            model_name="optimizationrun",
            name="data_files",
            field=models.JSONField(
                default=list,
                help_text="Kline files (absolute paths), one symbol each, one interval.",
            ),
        ),
        migrations.AlterField(
            model_name="optimizationrun",
            name="data_fingerprint",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Per data file: candles used, first and last open time and close; "
                "checked by workers and resumes.",
            ),
        ),
        migrations.RunPython(fingerprint_per_file, fingerprint_of_first_file),
    ]
