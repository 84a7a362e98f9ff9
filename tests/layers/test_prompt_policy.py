"""The prompt policy layer: wraps prompts with standing rules and a size hint."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genguard import Call, Client, GenerationRequest, GenerationResult
from genguard.errors import ConfigError
from genguard.layers.prompt_policy import (
    DEFAULT_RULES,
    HEADER,
    PromptPolicyLayer,
    apply_policy,
    size_hint,
)
from genguard.layers.safety import SafetyLayer
from genguard.providers.static import StaticProvider
from genguard.providers.transport import HttpTransport
from genguard.safety import ClassifierChain, Verdict


class Capture(StaticProvider):
    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[str] = []

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        self.prompts.append(call.request.prompt)
        return await super().send(call, transport)


async def test_default_rules_and_size_hint_are_appended() -> None:
    provider = Capture()
    async with Client(provider, [PromptPolicyLayer()]) as client:
        await client.generate("a sign that says OPEN", size="1536x1024")
    [sent] = provider.prompts
    assert sent.startswith("a sign that says OPEN\n\nFollow these rules:\n- Render any text")
    for rule in DEFAULT_RULES:
        assert f"- {rule}" in sent
    assert sent.endswith("- Compose for a landscape 1536x1024 image (3:2 aspect ratio).")


@pytest.mark.parametrize(
    ("size", "ratio", "hint"),
    [
        ("1024x1024", None, "Compose for a square 1024x1024 image (1:1 aspect ratio)."),
        ("1024x1536", None, "Compose for a portrait 1024x1536 image (2:3 aspect ratio)."),
        (None, "16:9", "Compose for a landscape frame with a 16:9 aspect ratio."),
        (None, "9:16", "Compose for a portrait frame with a 9:16 aspect ratio."),
        ("1792x1024", "16:9", "Compose for a landscape 1792x1024 image (16:9 aspect ratio)."),
        ("auto", None, None),
        (None, None, None),
        ("0x100", None, None),
        (None, "0:1", None),
    ],
)
def test_size_hint(size: str | None, ratio: str | None, hint: str | None) -> None:
    assert size_hint(GenerationRequest(prompt="x", size=size, aspect_ratio=ratio)) == hint


async def test_custom_rules_without_size_hint() -> None:
    provider = Capture()
    layer = PromptPolicyLayer(rules=["Use  a flat\n palette."], size_hint=False)
    async with Client(provider, [layer]) as client:
        await client.generate("a fox", size="1024x1024")
    assert provider.prompts == [f"a fox\n\n{HEADER}\n- Use a flat palette."]


async def test_nothing_to_add_leaves_the_prompt_alone() -> None:
    provider = Capture()
    async with Client(provider, [PromptPolicyLayer(rules=(), size_hint=True)]) as client:
        await client.generate("a fox")
    assert provider.prompts == ["a fox"]


async def test_request_can_opt_out() -> None:
    provider = Capture()
    async with Client(provider, [PromptPolicyLayer()]) as client:
        await client.generate("a fox", options={"prompt_policy": False})
    assert provider.prompts == ["a fox"]


async def test_wraps_once_even_if_two_layers_run() -> None:
    provider = Capture()
    async with Client(provider, [PromptPolicyLayer(), PromptPolicyLayer()]) as client:
        await client.generate("a fox")
    assert provider.prompts[0].count(HEADER) == 1


async def test_safety_outside_the_policy_judges_the_users_prompt() -> None:
    seen: list[str] = []

    class Spy:
        name = "spy"

        async def classify(self, request: GenerationRequest) -> Verdict:
            seen.append(request.prompt)
            return Verdict.allow(self.name)

    provider = Capture()
    stack: list[Any] = [SafetyLayer(input=ClassifierChain([Spy()])), PromptPolicyLayer()]
    async with Client(provider, stack) as client:
        await client.generate("a fox")
    assert seen == ["a fox"] and provider.prompts[0] != "a fox"


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"rules": "one string"}, "prompt_policy.rules"),
        ({"rules": ["ok", ""]}, "prompt_policy.rules[1]"),
        ({"rules": [3]}, "prompt_policy.rules[0]"),
        ({"size_hint": "maybe"}, "prompt_policy.size_hint"),
    ],
)
def test_bad_config(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        PromptPolicyLayer(**kwargs)
    assert info.value.path == path


def test_scope_and_repr() -> None:
    layer = PromptPolicyLayer()
    assert layer.scope == "call"
    assert repr(layer) == "PromptPolicyLayer(rules=3, size_hint=True)"


@given(
    prompt=st.text(max_size=80),
    size=st.none() | st.text(max_size=12) | st.from_regex(r"\d{1,5}x\d{1,5}", fullmatch=True),
    ratio=st.none() | st.text(max_size=8) | st.from_regex(r"\d{1,3}:\d{1,3}", fullmatch=True),
)
def test_policy_keeps_the_prompt_first_and_never_fails(
    prompt: str, size: str | None, ratio: str | None
) -> None:
    request = GenerationRequest(prompt=prompt, size=size, aspect_ratio=ratio)
    wrapped = apply_policy(request, DEFAULT_RULES, True)
    assert wrapped.prompt.startswith(prompt.rstrip())
    assert all(rule in wrapped.prompt for rule in DEFAULT_RULES)
    assert (wrapped.size, wrapped.aspect_ratio, wrapped.n) == (size, ratio, 1)
