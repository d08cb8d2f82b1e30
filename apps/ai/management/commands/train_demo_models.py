"""``manage.py train_demo_models``: (re)make the demo's shipped AI models and say whether they
match the shipped files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ai.demo import DEMO_DIR, demo_models_train
from apps.ai.training import TrainingError


class Command(BaseCommand):
    help = (
        "Train the demo's PPO agent and LSTM predictor (BTCUSDT 1h, 2023-01 to 2025-07, judged "
        "to 2025-09, seeded) and write them with their manifest under apps/ai/demo_models/; "
        "--check trains them and only compares with the shipped files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data-dir", default="", help="the market data (SHARED_DATA_DIR)")
        parser.add_argument("--check", action="store_true", help="compare, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = Path(options["data_dir"]) if options["data_dir"] else None
        try:
            rows = demo_models_train(data_dir=data_dir, write=not options["check"])
        except (TrainingError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for row in rows:
            same = "same as shipped" if row["same_as_shipped"] else "DIFFERS from the shipped file"
            self.stdout.write(
                f"{row['name']}: model {row['model']}, sha256 {row['sha256']} ({same})"
            )
        if not options["check"]:
            self.stdout.write(f"written under {DEMO_DIR}")
        elif not all(r["same_as_shipped"] for r in rows):
            raise CommandError("the models trained here differ from the shipped ones")
