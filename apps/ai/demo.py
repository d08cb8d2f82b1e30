"""The demo's AI: two small models shipped with the code (a PPO agent and an LSTM predictor,
trained on BTCUSDT 1h candles before the demo's replayed month) and the ``demo-ai`` bot trading
them through HybridAI.

The files under ``demo_models/`` are made by ``manage.py train_demo_models`` from the requests
in ``DEMO_MODELS`` (seeded: the same machine, data and versions give the same bytes; the
command says whether they match the shipped ones). ``manifest.json`` records each file's
sha256, its request and its figures; ``demo_models_register`` puts them in the registry only
when the files match it.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.ai.models import BotAi, ModelArtifact
from apps.ai.services import ArtifactError, artifact_bytes, artifact_store, sha256_of
from apps.ai.training import TrainRequest, model_request, model_train
from apps.bots.models import Bot

DEMO_DIR = Path(__file__).resolve().parent / "demo_models"
MANIFEST = DEMO_DIR / "manifest.json"
DEMO_DATA = "futures/BTCUSDT-1h.csv.gz"  # under SHARED_DATA_DIR


@dataclass(frozen=True, slots=True)
class DemoModel:
    name: str
    kind: str
    slot: str
    timesteps: int
    hyperparameters: dict[str, Any]


TRAIN_START = datetime(2023, 1, 1, tzinfo=UTC)
TRAIN_END = datetime(2025, 7, 1, tzinfo=UTC)  # the last 20 % before it validate
OOS_END = datetime(2025, 9, 1, tzinfo=UTC)  # judged out of sample; the demo replays from here
SEED = 7
DEMO_MODELS: tuple[DemoModel, ...] = (
    DemoModel("demo-ppo", "ppo", "agent", 300_000, {}),
    DemoModel("demo-lstm", "lstm", "predictor", 0, {}),
)
DEMO_AI = {"mode": BotAi.Mode.HYBRID, "weight": Decimal("0.5"), "min_confidence": Decimal("0.4")}


class DemoModelsError(RuntimeError):
    """The shipped demo models are missing or do not match their manifest."""


def _request(spec: DemoModel, data_dir: Path) -> TrainRequest:
    return TrainRequest(
        kind=spec.kind,
        data_files=(str(data_dir / DEMO_DATA),),
        start=TRAIN_START,
        end=TRAIN_END,
        oos_end=OOS_END,
        timesteps=spec.timesteps or 1,
        seed=SEED,
        name=spec.name,
        hyperparameters=dict(spec.hyperparameters),
    )


def _versions() -> dict[str, str]:
    import stable_baselines3
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "machine": platform.machine(),
    }


def demo_models_train(*, data_dir: Path | None = None, write: bool = True) -> list[dict[str, Any]]:
    """Train the demo models (into the registry too) and, with ``write``, ship them: the files
    and the manifest under ``demo_models/``. Return one row per model: name, sha256 and whether
    it equals the shipped file's."""
    folder = data_dir or Path(settings.SHARED_DATA_DIR)
    shipped = _manifest() if MANIFEST.is_file() else {"models": []}
    shipped_sha = {m["name"]: m["sha256"] for m in shipped["models"]}
    rows, entries = [], []
    for spec in DEMO_MODELS:
        artifact = model_train(artifact_id=model_request(_request(spec, folder)).pk)
        data = artifact_bytes(artifact)
        entries.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "slot": spec.slot,
                "file": f"{spec.name}.bin",
                "sha256": artifact.sha256,
                "data": DEMO_DATA,
                "start": TRAIN_START.isoformat(),
                "end": TRAIN_END.isoformat(),
                "oos_end": OOS_END.isoformat(),
                "timesteps": artifact.timesteps,
                "seed": SEED,
                "hyperparameters": artifact.hyperparameters,
                "feature_spec": artifact.feature_spec,
                "normalizer": artifact.normalizer,
                "metrics": artifact.metrics,
                "train_seconds": artifact.train_seconds,
            }
        )
        rows.append(
            {
                "name": spec.name,
                "model": artifact.pk,
                "sha256": artifact.sha256,
                "same_as_shipped": shipped_sha.get(spec.name) == artifact.sha256,
            }
        )
        if write:
            DEMO_DIR.mkdir(exist_ok=True)
            (DEMO_DIR / f"{spec.name}.bin").write_bytes(data)
    if write:
        manifest = {"models": entries, "trained_with": _versions()}
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return rows


def _manifest() -> dict[str, Any]:
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as exc:
        raise DemoModelsError(f"demo models: cannot read {MANIFEST} ({exc})") from exc


def demo_models_register() -> dict[str, ModelArtifact]:
    """The shipped demo models as registry rows by slot (agent, predictor), added once; raise
    ``DemoModelsError`` when a file is missing or does not match the manifest."""
    out: dict[str, ModelArtifact] = {}
    for entry in _manifest()["models"]:
        existing = ModelArtifact.objects.filter(name=entry["name"], sha256=entry["sha256"]).first()
        if existing is not None:
            out[entry["slot"]] = existing
            continue
        path = DEMO_DIR / entry["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DemoModelsError(f"demo model {entry['name']}: {exc}") from exc
        if sha256_of(data) != entry["sha256"]:
            raise DemoModelsError(
                f"demo model {entry['name']}: {path} does not match the manifest's sha256"
            )
        artifact = ModelArtifact.objects.create(
            name=entry["name"],
            kind=entry["kind"],
            status=ModelArtifact.Status.ACTIVE,
            symbols=["BTCUSDT"],
            interval="1h",
            data_files=[entry["data"]],
            train_start=datetime.fromisoformat(entry["start"]),
            train_end=datetime.fromisoformat(entry["end"]),
            seed=entry["seed"],
            timesteps=entry["timesteps"],
            hyperparameters=entry["hyperparameters"],
            feature_spec=entry["feature_spec"],
            normalizer=entry["normalizer"],
            metrics=entry["metrics"],
            train_seconds=entry["train_seconds"],
            progress=1.0,
            code_version="shipped demo model",
        )
        out[entry["slot"]] = artifact_store(artifact=artifact, data=data)
    return out


def demo_ai_attach(bot: Bot) -> str:
    """Give the ``demo-ai`` bot its AI settings (HybridAI driver over the shipped models);
    return "" or, when the models cannot be used, why (the bot is then left paused)."""
    if BotAi.objects.filter(bot=bot).exists():
        return ""
    try:
        with transaction.atomic():
            models = demo_models_register()
            BotAi.objects.create(
                bot=bot,
                role=BotAi.Role.DRIVER,
                agent=models.get("agent"),
                predictor=models.get("predictor"),
                **DEMO_AI,
            )
    except (DemoModelsError, ArtifactError) as exc:
        Bot.objects.filter(pk=bot.pk).update(
            state=Bot.State.PAUSED,
            state_reason=f"no AI model: {exc}"[:255],
            state_cause=Bot.Cause.AI_MODEL,
        )
        return str(exc)
    return ""
