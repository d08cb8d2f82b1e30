"""The AI in the admin as a trader uses it: the bot page's AI settings, comparing models,
activating one for a bot and rolling the change back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.ai.models import BotAi, ModelArtifact, ModelPromotion
from apps.bots.models import Bot

pytestmark = pytest.mark.django_db


def _bot_form(client: Any, bot: Bot, **ai: str) -> dict[str, Any]:
    """What the browser posts for the bot's page, with the AI inline's fields."""
    form = client.get(f"/admin/bots/bot/{bot.pk}/change/").context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        symbols=bot.symbols,
        exit_levels="\n".join(f"{x['distance']} {x['fraction']}" for x in bot.exit_levels),
        account=bot.account_id,
        strategy=bot.strategy_id,
        **{"risk-TOTAL_FORMS": "0", "risk-INITIAL_FORMS": "0"},
        **{"reoptimization-TOTAL_FORMS": "0", "reoptimization-INITIAL_FORMS": "0"},
    )
    existing = BotAi.objects.filter(bot=bot).first()
    data |= {"ai-TOTAL_FORMS": "1", "ai-INITIAL_FORMS": "1" if existing else "0"}
    fields = {"role": "none", "mode": "ppo_only", "min_confidence": "0.5", "weight": "0.5",
              "retrain_every_days": "0", "retrain_window_days": "120",
              "promote_margin": "0.1"}  # fmt: skip
    if existing is not None:
        fields |= {"id": str(existing.pk), "bot": str(bot.pk)}
        fields |= {k: str(getattr(existing, f"{k}_id") or "") for k in ("agent", "predictor")}
    fields |= ai
    data |= {f"ai-0-{k}": v for k, v in fields.items()}
    return data


def test_bot_page_sets_the_ai_and_refuses_settings_it_cannot_trade_with(
    admin_client_logged, demo
) -> None:
    ai_bot = Bot.objects.get(name="demo-ai")
    url = f"/admin/bots/bot/{ai_bot.pk}/change/"
    page = admin_client_logged.get(url).content.decode()
    assert "AI (HybridAI)" in page and "min_confidence" in page

    data = _bot_form(admin_client_logged, ai_bot, min_confidence="0.6", mode="ppo_only")
    answer = admin_client_logged.post(url, data)
    assert answer.status_code == 302, answer.context["inline_admin_formsets"][1].formset.errors
    assert BotAi.objects.get(bot=ai_bot).min_confidence == Decimal("0.6")

    swing = Bot.objects.get(name="demo-swing")
    agent = ModelArtifact.objects.get(kind="ppo")
    data = _bot_form(admin_client_logged, swing, role="driver", agent=str(agent.pk))
    answer = admin_client_logged.post(f"/admin/bots/bot/{swing.pk}/change/", data)
    assert answer.status_code == 200
    assert "strategy must be of kind" in answer.content.decode()
    assert not BotAi.objects.filter(bot=swing).exists()

    data = _bot_form(admin_client_logged, swing, role="filter", agent=str(agent.pk))
    assert admin_client_logged.post(f"/admin/bots/bot/{swing.pk}/change/", data).status_code == 302
    assert BotAi.objects.get(bot=swing).role == "filter"


def test_models_are_compared_activated_and_rolled_back_from_the_admin(
    admin_client_logged, demo
) -> None:
    models = list(ModelArtifact.objects.order_by("pk"))
    url = "/admin/ai/modelartifact/"
    page = admin_client_logged.post(
        url, {"action": "compare", "_selected_action": [m.pk for m in models]}
    ).content.decode()
    assert "out of sample" in page and "sharpe" in page and "%" in page

    swing = Bot.objects.get(name="demo-swing")
    agent = next(m for m in models if m.kind == "ppo")
    form = admin_client_logged.post(url, {"action": "activate", "_selected_action": [agent.pk]})
    assert form.status_code == 200 and "Activate model" in form.content.decode()
    done = admin_client_logged.post(
        url,
        {"action": "activate", "_selected_action": [agent.pk], "bot": swing.pk,
         "reason": "try it"},
    )  # fmt: skip
    assert done.status_code == 302
    assert BotAi.objects.get(bot=swing).agent_id == agent.pk
    promotion = ModelPromotion.objects.get(bot=swing)
    assert promotion.decided_by == "root" and promotion.reason == "try it"

    answer = admin_client_logged.post(
        "/admin/ai/modelpromotion/",
        {"action": "roll_back", "_selected_action": [promotion.pk]},
        follow=True,
    )
    assert "no previous model to go back to" in answer.content.decode()  # it had none
