"""Validation before sending: each capability, the lifecycle policy, and properties."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
from catalogue_support import PNG, TODAY, clock_on, provider_for
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard import Client
from genguard.catalogue import default_catalogue
from genguard.catalogue.policy import CataloguePolicy
from genguard.catalogue.translate import Untranslatable, translate
from genguard.catalogue.validate import RequestValidator, check_request
from genguard.errors import (
    BadRequest,
    InvalidRequest,
    ModelRetired,
    UnknownModel,
    counts_against_breaker,
)
from genguard.model import GenerationRequest, Image, Part, Turn
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator

CATALOGUE = default_catalogue()


def _check(model: str, **kwargs: Any) -> None:
    check_request(CATALOGUE.resolve(model), GenerationRequest(prompt="x", **kwargs))


def _refused(model: str, field: str, **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        _check(model, **kwargs)
    assert info.value.field == field, info.value
    assert info.value.model == CATALOGUE.resolve(model).name
    return info.value


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("gpt-image-2", {"size": "3840x2160"}),
        ("gpt-image-2", {"size": "1024x3072"}),  # exactly 1:3
        ("gpt-image-2", {"aspect_ratio": "3:1"}),
        ("gpt-image-1", {"images": tuple(Image(PNG) for _ in range(16))}),
        ("gpt-image-1", {"images": (Image(PNG),), "options": {"input_fidelity": "high"}}),
        ("gpt-image-1", {"options": {"background": "transparent", "output_format": "webp"}}),
        ("gpt-image-1", {"options": {"output_format": "jpeg", "output_compression": 0}}),
        ("dall-e-3", {"size": "1792x1024", "options": {"quality": "hd", "style": "natural"}}),
        ("gemini-3.1-flash-image", {"aspect_ratio": "8:1", "size": "512"}),
        ("gemini-3-pro-image", {"options": {"image_size": "4k"}}),  # case-insensitive
        ("gemini-3-pro-image", {"images": tuple(Image(PNG) for _ in range(14))}),
        ("gemini-2.5-flash-image", {"size": "1536x1024", "options": {"quality": "high"}}),
        ("imagen-4.0-generate-001", {"n": 4, "options": {"negative_prompt": "x"}}),
    ],
)
def test_requests_the_model_can_serve_pass(model: str, kwargs: dict[str, Any]) -> None:
    _check(model, **kwargs)


@pytest.mark.parametrize(
    ("model", "field", "kwargs", "words"),
    [
        ("gpt-image-2", "size", {"size": "1000x1000"}, "multiples of 16"),
        ("gpt-image-2", "size", {"size": "3200x1040"}, "between 1:3 and 3:1"),
        ("gpt-image-2", "size", {"size": "4096x1024"}, "3840"),
        ("gpt-image-2", "aspect_ratio", {"aspect_ratio": "4:1"}, "between 1:3 and 3:1"),
        ("gpt-image-2", "options.input_fidelity",
         {"images": (Image(PNG),), "options": {"input_fidelity": "high"}},
         "does not take options.input_fidelity"),
        ("gpt-image-2", "options.background", {"options": {"background": "transparent"}},
         "allowed: opaque, auto"),
        ("gpt-image-1-mini", "options.input_fidelity",
         {"images": (Image(PNG),), "options": {"input_fidelity": "low"}}, "does not take"),
        ("gpt-image-1", "options.input_fidelity", {"options": {"input_fidelity": "low"}},
         "only with input images"),
        ("gpt-image-1", "images", {"images": tuple(Image(PNG) for _ in range(17))},
         "at most 16"),
        ("gpt-image-1", "images[0].mime_type", {"images": (Image(PNG, "image/gif"),)},
         "allowed: image/png, image/jpeg, image/webp"),
        ("gpt-image-1", "options.output_format",
         {"options": {"background": "transparent", "output_format": "jpeg"}}, "png, webp"),
        ("gpt-image-1", "options.output_compression", {"options": {"output_compression": 50}},
         "jpeg or webp"),
        ("gpt-image-1", "options.output_compression",
         {"options": {"output_format": "jpeg", "output_compression": 101}}, "0 to 100"),
        ("gpt-image-1", "options.quality", {"options": {"quality": "hd"}},
         "allowed: low, medium, high, auto"),
        ("gpt-image-1", "prompt", {"prompt": "y" * 32_001}, "at most 32000"),
        ("dall-e-3", "n", {"n": 2}, "allowed: 1"),
        ("dall-e-3", "images", {"images": (Image(PNG),)}, "does not take input images"),
        ("dall-e-3", "options.style", {"options": {"style": "anime"}}, "vivid, natural"),
        ("dall-e-2", "images", {"images": (Image(PNG), Image(PNG))}, "at most 1"),
        ("gemini-2.5-flash-image", "size", {"size": "2K"}, "WIDTHxHEIGHT"),
        ("gemini-2.5-flash-image", "options.image_size", {"options": {"image_size": "2K"}},
         "does not take"),
        ("gemini-3-pro-image", "size", {"size": "512"}, "allowed: 1K, 2K, 4K"),
        ("gemini-3-pro-image", "aspect_ratio", {"aspect_ratio": "8:1"}, "21:9"),
        ("gemini-3-pro-image", "images", {"images": tuple(Image(PNG) for _ in range(15))},
         "at most 14"),
        ("gemini-3-pro-image", "options.service_tier", {"options": {"service_tier": "gold"}},
         "flex, standard, priority"),
        ("gemini-3-pro-image", "images[0]",
         {"images": (Image(b"\x00" * (20 * 1024 * 1024 + 1)),)}, "at most 20971520 bytes"),
        ("imagen-4.0-generate-001", "n", {"n": 5}, "allowed: 1, 2, 3, 4"),
        ("imagen-4.0-fast-generate-001", "options.image_size",
         {"options": {"image_size": "2K"}}, "does not take"),
        ("imagen-4.0-generate-001", "options.person_generation",
         {"options": {"person_generation": "everyone"}}, "dont_allow, allow_adult, allow_all"),
    ],
)  # fmt: skip
def test_requests_the_model_cannot_serve_name_the_field_and_allowed_values(
    model: str, field: str, kwargs: dict[str, Any], words: str
) -> None:
    kwargs.setdefault("prompt", "x")
    with pytest.raises(InvalidRequest) as info:
        check_request(CATALOGUE.resolve(model), GenerationRequest(**kwargs))
    assert info.value.field == field
    assert words in str(info.value)
    assert not isinstance(info.value, (UnknownModel, ModelRetired))


def test_options_the_adapter_does_not_send_are_not_checked() -> None:
    # Gemini has no quality parameter; the adapter never sends it, so nothing can fail.
    _check("gemini-3-pro-image", options={"quality": "whatever", "style": 3})


def test_a_model_of_another_provider_is_refused_before_sending() -> None:
    validator = RequestValidator("gemini")
    with pytest.raises(InvalidRequest) as info:
        validator.check(GenerationRequest(prompt="x"), "gpt-image-2", today=TODAY)
    assert info.value.field == "model" and "gemini-3-pro-image" in info.value.allowed
    assert "is served by openai, not by gemini" in str(info.value)


@pytest.mark.parametrize(("policy", "outcome"), [("allow", None), ("warn", None), ("fail", "x")])
def test_unknown_models_follow_the_policy(
    policy: str, outcome: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="genguard.catalogue")
    validator = RequestValidator("openai", CataloguePolicy(on_unknown=policy))  # type: ignore[arg-type]
    request = GenerationRequest(prompt="x", size="huge")  # unknown models are not checked
    if outcome is None:
        for _ in range(3):
            assert validator.check(request, "gpt-image-9", today=TODAY) is None
        warned = [r for r in caplog.records if "gpt-image-9" in r.getMessage()]
        assert len(warned) == (1 if policy == "warn" else 0)
    else:
        with pytest.raises(UnknownModel) as info:
            validator.check(request, "gpt-image-9", today=TODAY)
        assert "gpt-image-2" in info.value.suggestions


def test_a_retired_model_fails_by_policy_naming_the_live_successor() -> None:
    validator = RequestValidator("openai", CataloguePolicy(on_retired="fail"))
    request = GenerationRequest(prompt="x")
    assert validator.check(request, "dall-e-3", today=date(2026, 5, 11)) is not None
    with pytest.raises(ModelRetired) as info:
        validator.check(request, "dall-e-3", today=date(2026, 5, 12))
    assert info.value.retired_on == "2026-05-12" and info.value.successor == "gpt-image-1"
    assert (
        str(info.value)
        == "model 'dall-e-3' was retired on 2026-05-12; its successor is gpt-image-1"
    )
    with pytest.raises(ModelRetired) as info:  # gpt-image-1 itself retired on 2026-10-23
        validator.check(request, "dall-e-3", today=TODAY)
    assert info.value.successor == "gpt-image-2"
    assert "successor is gpt-image-1 (itself retired; use gpt-image-2)" in str(info.value)


def test_a_retired_model_is_silent_when_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="genguard.catalogue")
    validator = RequestValidator("imagen", CataloguePolicy(on_retired="ignore"))
    validator.check(GenerationRequest(prompt="x"), "imagen-3.0-generate-002", today=TODAY)
    assert caplog.records == []


async def test_a_policy_file_can_fail_retired_models_before_any_request() -> None:
    policy = CataloguePolicy(on_retired="fail")
    async with Simulator() as sim:
        spec = CATALOGUE.resolve("gemini-3-pro-image-preview")
        async with Client(provider_for(spec, sim.base_url, policy), clock=clock_on(TODAY)) as c:
            with pytest.raises(ModelRetired, match="gemini-3-pro-image"):
                await c.generate("a fox")
        assert sim.log == []


async def test_the_provider_default_settings_are_checked_too() -> None:
    async with Simulator() as sim:
        spec = CATALOGUE.resolve("gpt-image-2")
        provider = provider_for(spec, sim.base_url, quality="ultra")
        async with Client(provider, clock=clock_on(TODAY)) as client:
            with pytest.raises(InvalidRequest, match="allowed: low, medium, high, auto"):
                await client.generate("a fox")
        assert sim.log == []


# -- properties ------------------------------------------------------------------------------

_sizes = st.one_of(
    st.none(),
    st.sampled_from(["auto", "1K", "2K", "4K", "512", "1024x1024", "999x999", "huge", ""]),
    st.builds(lambda w, h: f"{w}x{h}", st.integers(0, 5000), st.integers(0, 5000)),
)
_ratios = st.one_of(
    st.none(),
    st.sampled_from(["1:1", "16:9", "21:9", "8:1", "1:8", "7:3", "0:1", "x", ""]),
    st.builds(lambda w, h: f"{w}:{h}", st.integers(0, 40), st.integers(0, 40)),
)
_option_values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200), st.text(max_size=8),
    st.sampled_from(["high", "low", "auto", "hd", "png", "jpeg", "webp", "transparent",
                     "opaque", "flex", "2K", "allow_adult"]),
)  # fmt: skip
_option_keys = st.sampled_from(
    ["quality", "background", "output_format", "output_compression", "moderation", "style",
     "response_format", "input_fidelity", "user", "partial_images", "stream", "service_tier",
     "image_size", "negative_prompt", "person_generation", "mask", "unrelated"]
)  # fmt: skip
_requests = st.builds(
    GenerationRequest,
    prompt=st.text(max_size=40),
    size=_sizes,
    aspect_ratio=_ratios,
    n=st.integers(1, 10),  # GenerationRequest itself bounds n
    seed=st.one_of(st.none(), st.integers(0, 2**31)),
    images=st.lists(
        st.builds(Image, st.binary(max_size=8), st.sampled_from(["image/png", "image/gif"])),
        max_size=3,
    ).map(tuple),
    options=st.dictionaries(_option_keys, _option_values, max_size=5),
)
_specs = st.sampled_from(list(CATALOGUE))


@settings(max_examples=400, deadline=None)
@given(_specs, _requests)
def test_check_request_passes_or_names_a_field(spec: Any, request: GenerationRequest) -> None:
    try:
        check_request(spec, request)
    except InvalidRequest as error:
        assert error.field and error.model == spec.name
        for value in error.allowed:
            assert value in str(error)


@settings(max_examples=400, deadline=None)
@given(_specs, _requests)
def test_a_translated_request_is_one_the_target_can_serve(
    spec: Any, request: GenerationRequest
) -> None:
    """Whatever fallback sends to a target passes that target's own validation, unless
    the caller's request was already invalid in a way translation does not touch."""
    try:
        translation = translate(request, spec)
    except Untranslatable as skip:
        assert skip.model == spec.name and skip.field
        return
    try:
        check_request(spec, translation.request)
    except InvalidRequest as error:
        # Only values the caller supplied unparseable (not translated) may still fail.
        assert error.field in {"size", "aspect_ratio", "prompt", "options.output_compression",
                               "options.partial_images", "options.user", "options.stream",
                               "options.negative_prompt", "options.image_size",
                               "options.mask", "options.input_fidelity"}  # fmt: skip
    for change in translation.changes:
        assert change.field and change.before != change.after


async def test_a_refused_request_is_not_billed_and_not_a_breaker_failure() -> None:
    async with Simulator() as sim:
        spec = CATALOGUE.resolve("dall-e-3")
        async with Client(provider_for(spec, sim.base_url), clock=clock_on(TODAY)) as client:
            with pytest.raises(InvalidRequest) as info:
                await client.generate(GenerationRequest(prompt="x", n=2))
    assert info.value.billing == "not_sent" and not info.value.retryable
    assert not counts_against_breaker(info.value) and not isinstance(info.value, BadRequest)


def _history() -> tuple[Turn, ...]:
    return (Turn("user", (Part(text="hi"),)),)


@pytest.mark.parametrize(
    ("cls", "model", "request_kwargs", "field"),
    [
        (GeminiProvider, "gemini-house-model", {"size": "huge"}, "size"),  # not in the catalogue
        (ImagenProvider, "imagen-house-model", {"size": "huge"}, "size"),
        (ImagenProvider, "imagen-4.0-generate-001", {"history": _history()}, "history"),
        (OpenAIProvider, "gpt-image-1",
         {"images": (Image(PNG),), "options": {"mask": "not an image"}}, "options.mask"),
    ],
)  # fmt: skip
async def test_the_adapters_local_refusals_are_invalid_requests_too(
    cls: Any, model: str, request_kwargs: dict[str, Any], field: str
) -> None:
    async with Simulator() as sim:
        provider = cls("k", model=model, base_url=sim.base_url)
        async with Client(provider, clock=clock_on(TODAY)) as client:
            with pytest.raises(InvalidRequest) as info:
                await client.generate(GenerationRequest(prompt="x", **request_kwargs))
        assert sim.log == []
    assert info.value.field == field
