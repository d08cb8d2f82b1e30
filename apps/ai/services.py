"""The model registry's writes and loads: files under ``AI_MODELS_DIR`` checked by sha256, and the
HybridAI a bot trades with.

A model file is written once (``artifact_store``: temporary file, then an atomic rename) and its
sha256 recorded; ``artifact_load`` reads it back only when the digest matches, else raises
``ArtifactError`` (missing, tampered): the engine then pauses the bot with that reason, it
never falls back silently to no model. Loaded models are kept per process by (id, sha256).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.ai.domain.ensemble import EnsembleAgent, EnsembleMode
from apps.ai.domain.hybrid import HybridAI, HybridMode
from apps.ai.domain.types import AiModelError, Predictor
from apps.ai.models import BotAi, ModelArtifact, ModelPromotion
from apps.bots.models import Bot

logger = logging.getLogger(__name__)

_cache: dict[tuple[int, str], Predictor] = {}
_cache_lock = threading.Lock()


class ArtifactError(RuntimeError):
    """A model cannot be used: its file is missing, does not match its digest, or is corrupt."""


def models_dir() -> Path:
    path = Path(settings.AI_MODELS_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact_store(*, artifact: ModelArtifact, data: bytes) -> ModelArtifact:
    """Write the model's bytes under the models directory and record name, size and digest."""
    folder = models_dir()
    name = f"{artifact.kind}-{artifact.pk}-{sha256_of(data)[:12]}.bin"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    artifact.file = name
    artifact.sha256 = sha256_of(data)
    artifact.size_bytes = len(data)
    artifact.save(update_fields=["file", "sha256", "size_bytes", "updated_at"])
    return artifact


def artifact_bytes(artifact: ModelArtifact) -> bytes:
    """The model file's bytes; raise ``ArtifactError`` when missing or not matching its sha256."""
    if not artifact.file or not artifact.sha256:
        raise ArtifactError(f"model {artifact.pk} ({artifact.kind}) has no file yet")
    path = models_dir() / artifact.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"model {artifact.pk}: file {path} cannot be read ({exc})") from exc
    digest = sha256_of(data)
    if digest != artifact.sha256:
        raise ArtifactError(
            f"model {artifact.pk}: file {path} does not match its sha256 "
            f"(expected {artifact.sha256[:12]}..., found {digest[:12]}...): refused"
        )
    return data


def artifact_load(artifact: ModelArtifact) -> Predictor:
    """The model as a predictor (an ensemble with its members), from a verified file."""
    key = (artifact.pk, artifact.sha256)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    data = artifact_bytes(artifact)
    try:
        model = _decode(artifact, data)
    except AiModelError as exc:
        raise ArtifactError(f"model {artifact.pk}: {exc}") from exc
    with _cache_lock:
        _cache[key] = model
    return model


def _decode(artifact: ModelArtifact, data: bytes) -> Predictor:
    if artifact.kind in (ModelArtifact.Kind.PPO, ModelArtifact.Kind.A2C):
        from apps.ai.domain.agent import TradingAgent

        return TradingAgent.from_bytes(data)
    if artifact.kind == ModelArtifact.Kind.LSTM:
        from apps.ai.domain.lstm import LstmPredictor

        return LstmPredictor.from_bytes(data)
    if artifact.kind == ModelArtifact.Kind.ENSEMBLE:
        spec = json.loads(data)
        members = [artifact_load(ModelArtifact.objects.get(pk=pk)) for pk in spec["members"]]
        return EnsembleAgent(
            tuple(members), EnsembleMode(spec["mode"]), int(spec.get("window", 168))
        )
    raise AiModelError(f"unknown model kind {artifact.kind!r}")


def ensemble_bytes(*, members: list[int], mode: str, window: int) -> bytes:
    """The file of an ensemble: its members' ids, its mode and window (JSON)."""
    return json.dumps(
        {"members": members, "mode": EnsembleMode(mode).value, "window": window}, sort_keys=True
    ).encode()


@dataclass(frozen=True, slots=True)
class BotAiSetup:
    settings: BotAi
    hybrid: HybridAI


def bot_ai_settings(bot: Bot) -> BotAi | None:
    return BotAi.objects.filter(bot=bot).select_related("agent", "predictor", "ensemble").first()


def bot_hybrid(bot: Bot) -> BotAiSetup | None:
    """The bot's HybridAI from its AI settings (None when the bot has no AI role).

    Raise ``ArtifactError`` when a model it needs is missing, tampered or not usable.
    """
    ai = bot_ai_settings(bot)
    if ai is None or ai.role == BotAi.Role.NONE:
        return None
    parts: dict[str, Any] = {}
    for slot in ("agent", "predictor", "ensemble"):
        artifact = getattr(ai, slot)
        if artifact is not None:
            parts[slot] = artifact_load(artifact)
    try:
        hybrid = HybridAI(
            mode=HybridMode(ai.mode),
            weight=float(ai.weight),
            min_confidence=float(ai.min_confidence),
            **parts,
        )
    except AiModelError as exc:
        raise ArtifactError(f"bot {bot.name}: {exc}") from exc
    return BotAiSetup(ai, hybrid)


def model_activate(
    *, bot: Bot, slot: str, artifact: ModelArtifact, decided_by: str, reason: str = ""
) -> ModelPromotion:
    """Make ``artifact`` the bot's model in ``slot`` (agent, predictor, ensemble); record it."""
    if slot not in ("agent", "predictor", "ensemble"):
        raise ValueError(f"unknown model slot {slot!r}")
    artifact_bytes(artifact)  # only a verified file becomes active
    with transaction.atomic():
        ai, _ = BotAi.objects.select_for_update().get_or_create(bot=bot)
        previous = getattr(ai, slot)
        setattr(ai, slot, artifact)
        ai.save()
        ModelArtifact.objects.filter(pk=artifact.pk).update(status=ModelArtifact.Status.ACTIVE)
        if previous is not None and previous.pk != artifact.pk:
            still_used = BotAi.objects.filter(**{slot: previous}).exists()
            if not still_used:
                ModelArtifact.objects.filter(pk=previous.pk).update(
                    status=ModelArtifact.Status.RETIRED
                )
        promotion = ModelPromotion.objects.create(
            bot=bot,
            slot=slot,
            previous=previous,
            new=artifact,
            decided_by=decided_by,
            reason=reason,
        )
    logger.info("bot %s: %s model %s -> %s (%s)", bot.name, slot, previous, artifact, decided_by)
    return promotion


def model_rollback(*, promotion: ModelPromotion, decided_by: str) -> ModelPromotion:
    """Undo one promotion: the previous model becomes the bot's again (recorded too)."""
    if promotion.previous is None:
        raise ValueError("this promotion had no previous model to go back to")
    back = model_activate(
        bot=promotion.bot,
        slot=promotion.slot,
        artifact=promotion.previous,
        decided_by=decided_by,
        reason=f"rollback of promotion {promotion.pk}",
    )
    ModelPromotion.objects.filter(pk=promotion.pk).update(rolled_back=True)
    return back


def hybrid_of_artifacts(
    ids: list[int], *, mode: str = "", weight: float = 0.5, min_confidence: float = 0.0
) -> HybridAI:
    """A HybridAI over registered models (backtests, walk-forward): an agent (ppo / a2c), an
    LSTM, an ensemble; ``mode`` defaults to the one the models given make (agent: ppo_only,
    LSTM: lstm_only, both: hybrid, ensemble: ensemble). Raise ``ArtifactError``."""
    parts: dict[str, Any] = {}
    for pk in ids:
        artifact = ModelArtifact.objects.filter(pk=pk).first()
        if artifact is None:
            raise ArtifactError(f"no model {pk}")
        slot = {"ppo": "agent", "a2c": "agent", "lstm": "predictor", "ensemble": "ensemble"}[
            artifact.kind
        ]
        if slot in parts:
            raise ArtifactError(f"two models for the {slot}: give one of each kind")
        parts[slot] = artifact_load(artifact)
    if not mode:
        mode = (
            HybridMode.ENSEMBLE
            if "ensemble" in parts
            else HybridMode.HYBRID
            if {"agent", "predictor"} <= set(parts)
            else HybridMode.PPO_ONLY
            if "agent" in parts
            else HybridMode.LSTM_ONLY
        )
    try:
        return HybridAI(
            mode=HybridMode(mode), weight=weight, min_confidence=min_confidence, **parts
        )
    except (AiModelError, ValueError) as exc:
        raise ArtifactError(str(exc)) from exc
