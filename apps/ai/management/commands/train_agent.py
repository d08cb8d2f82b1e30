"""``manage.py train_agent``: train a model into the registry and print its id."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from apps.ai.models import ModelArtifact
from apps.ai.training import TrainingError, TrainRequest, model_request, model_train, utc
from apps.core.domain.formatting import fmt_pct


class Command(BaseCommand):
    help = (
        "Train an AI model (PPO or A2C agent, LSTM predictor) on candles, or make an ensemble "
        "of trained models; judge it in-sample, on a held-out validation part and (with "
        "--oos-end) out of sample beside buy-and-hold and flat; store it in the registry "
        "(status candidate) and print its id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=ModelArtifact.Kind.values)
        parser.add_argument("--data", nargs="*", default=[], metavar="FILE", help="kline files")
        parser.add_argument("--symbols", nargs="*", default=[], help="imported candles of these")
        parser.add_argument("--interval", default="", help="with --symbols")
        parser.add_argument("--start", default="", help="ISO date: first training candle")
        parser.add_argument("--end", default="", help="ISO date: training candles before it")
        parser.add_argument("--oos-end", default="", help="ISO date: judge [end, oos-end) too")
        parser.add_argument("--timesteps", type=int, default=50_000, help="agent env steps")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--name", default="")
        parser.add_argument("--validation", type=float, default=0.2, help="held-out share")
        parser.add_argument(
            "--params",
            default="{}",
            help="hyper-parameters as JSON (agents: n_envs, n_steps, batch_size, n_epochs, "
            "learning_rate, gamma, ent_coef; LSTM: seq_len, hidden, horizon, band, epochs, "
            "patience; environment: fee, stake, leverage, episode_length, drawdown_penalty)",
        )
        parser.add_argument("--members", nargs="*", type=int, default=[], help="ensemble")
        parser.add_argument(
            "--mode",
            default="confidence_weighted",
            choices=["majority", "confidence_weighted", "best_recent_sharpe"],
            help="ensemble mode",
        )
        parser.add_argument("--window", type=int, default=168, help="best_recent_sharpe window")
        parser.add_argument(
            "--progress",
            action="store_true",
            default=None,
            help="progress bar on stderr (default: when stderr is a terminal)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise CommandError("--params must be a JSON object")
        try:
            request = TrainRequest(
                kind=options["kind"],
                data_files=tuple(options["data"]),
                symbols=tuple(s.upper() for s in options["symbols"]),
                interval=options["interval"],
                start=utc(options["start"]) if options["start"] else None,
                end=utc(options["end"]) if options["end"] else None,
                oos_end=utc(options["oos_end"]) if options["oos_end"] else None,
                timesteps=options["timesteps"],
                seed=options["seed"],
                name=options["name"],
                validation=options["validation"],
                members=tuple(options["members"]),
                ensemble_mode=options["mode"],
                ensemble_window=options["window"],
                hyperparameters=params,
            )
            artifact = model_request(request)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        show = sys.stderr.isatty() if options["progress"] is None else options["progress"]
        bar = tqdm(desc=f"train {request.kind}", file=sys.stderr, disable=not show)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            with logging_redirect_tqdm():
                artifact = model_train(artifact_id=artifact.pk, progress=progress)
        except TrainingError as exc:
            raise CommandError(f"model {artifact.pk}: {exc}") from exc
        finally:
            bar.close()
        self.stdout.write(
            f"model {artifact.pk}: {artifact.kind} trained in {artifact.train_seconds:.1f} s, "
            f"sha256 {artifact.sha256[:12]}..., status {artifact.status}"
        )
        for part in ("in_sample", "validation", "out_of_sample"):
            for market, figures in (artifact.metrics.get(part) or {}).items():
                m, hold = figures["model"], figures["buy_and_hold"]
                self.stdout.write(
                    f"  {part:<13} {market:<12} return {fmt_pct(m['total_return']):>9}  "
                    f"Sharpe {m['sharpe']:6.2f}  max DD {fmt_pct(m['max_drawdown']):>8}  "
                    f"trades {m['trades']:>5}  | buy&hold {fmt_pct(hold['total_return']):>9}"
                )
        self.stdout.write(str(artifact.pk))
