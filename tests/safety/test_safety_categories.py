"""One category list for every provider's block signal, checked against real-shaped fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from genguard.safety import categories as c

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reference"


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["body"]


def blocked_harms(ratings: list[dict[str, Any]]) -> list[str]:
    return [r["category"] for r in ratings if r.get("blocked")]


def test_every_mapping_lands_in_the_uniform_list() -> None:
    for table in (
        c.GEMINI_HARM_CATEGORIES,
        c.GEMINI_BLOCK_REASONS,
        c.OPENAI_MODERATION_CATEGORIES,
        c.OPENAI_BLOCK_CODES,
    ):
        assert set(table.values()) <= set(c.CATEGORIES)


@pytest.mark.parametrize(
    ("fixture", "category"),
    [
        ("gemini_200_blocked_prompt.json", c.PROHIBITED),
        ("gemini_200_blocked_prompt_safety.json", c.SEXUAL),
        ("gemini_200_finish_safety.json", c.SEXUAL),
        ("gemini_200_image_safety.json", c.UNSPECIFIED),
        ("gemini_200_image_prohibited_content.json", c.PROHIBITED),
    ],
)
def test_gemini_fixtures(fixture: str, category: str) -> None:
    data = body(fixture)
    if "promptFeedback" in data:
        feedback = data["promptFeedback"]
        reason, ratings = feedback["blockReason"], feedback.get("safetyRatings", [])
    else:
        candidate = data["candidates"][0]
        reason, ratings = candidate["finishReason"], candidate.get("safetyRatings", [])
    assert c.gemini_category(reason, blocked_harms(ratings)) == category


def test_gemini_unblocked_harms_do_not_decide() -> None:
    assert c.gemini_category("SAFETY", ["HARM_CATEGORY_CIVIC_INTEGRITY"]) == c.UNSPECIFIED
    assert c.gemini_category("SPII") == c.PII
    assert c.gemini_category("SOMETHING_NEW") == c.UNSPECIFIED
    assert c.gemini_category(None) == c.UNSPECIFIED


def test_openai_fixtures() -> None:
    moderation = body("openai_400_moderation_blocked.json")["error"]
    details = moderation["moderation_details"]
    assert c.openai_category(moderation["code"], details["categories"]) == c.SEXUAL
    policy = body("openai_400_content_policy.json")["error"]
    assert c.openai_category(policy["code"]) == c.UNSPECIFIED
    assert c.openai_category("moderation_blocked", ["sexual/minors"]) == c.SEXUAL_MINORS
    assert c.openai_category("moderation_blocked", ["brand-new"]) == c.UNSPECIFIED
