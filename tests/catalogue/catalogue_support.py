"""Helpers for the catalogue tests: a provider per entry, and requests each entry can serve."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any

from genguard.catalogue import ModelSpec
from genguard.catalogue.policy import CataloguePolicy
from genguard.clock import FakeClock
from genguard.model import GenerationRequest, Image
from genguard.providers.base import Provider
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
#: The date the shipped catalogue was checked; tests pin "today" to it.
TODAY = date(2026, 12, 1)
#: Models the simulator answers with 404, as the real API does for these retired ids.
SIM_NOT_FOUND = frozenset(
    {"gemini-2.0-flash-exp-image-generation", "gemini-2.5-flash-image-preview"}
)


def clock_on(day: date) -> FakeClock:
    """A fake clock whose wall time is noon UTC on ``day``."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
    return FakeClock(wall_start=noon)


def provider_for(
    spec: ModelSpec, base_url: str, policy: CataloguePolicy | None = None, **kwargs: Any
) -> Provider:
    if spec.provider == "openai":
        return OpenAIProvider(
            "sim-key", model=spec.name, base_url=base_url, catalogue=policy, **kwargs
        )
    if spec.provider == "gemini":
        return GeminiProvider(
            "sim-key", model=spec.name, base_url=base_url, catalogue=policy, **kwargs
        )
    return ImagenProvider("sim-key", model=spec.name, base_url=base_url, catalogue=policy, **kwargs)


def valid_request(spec: ModelSpec, *, edit: bool = False) -> GenerationRequest:
    """A request using as much of ``spec``'s surface as it has (an edit when ``edit``)."""
    caps = spec.capabilities
    options: dict[str, Any] = {}
    size: str | None = None
    ratio: str | None = None
    images: tuple[Image, ...] = ()
    n = min(2, caps.n_max)
    seed = 7 if caps.seed else None
    if spec.provider == "openai":
        fixed = [s for s in caps.sizes if s != "auto"]
        size = "2048x1152" if caps.free_size is not None else fixed[-1]
        for key, values in (
            ("quality", caps.quality),
            ("moderation", caps.moderation),
            ("style", caps.style),
            ("response_format", caps.response_formats[-1:]),
            ("background", tuple(b for b in caps.background if b == "opaque")),
        ):
            if values:
                options[key] = values[0]
        if caps.output_formats:
            options["output_format"] = "webp"
            options["output_compression"] = 50
        options["user"] = "end-user-1"
        if edit:
            images = tuple(Image(PNG) for _ in range(min(2, caps.max_input_images)))
            if caps.mask:
                options["mask"] = Image(PNG)
            if caps.input_fidelity:
                options["input_fidelity"] = caps.input_fidelity[0]
            options.pop("moderation", None)
            options.pop("style", None)
    else:
        ratio = caps.aspect_ratios[-1] if caps.aspect_ratios else None
        if caps.image_sizes:
            options["image_size"] = caps.image_sizes[-1]
        if "flex" in caps.service_tiers:
            options["service_tier"] = "flex"
        if spec.provider == "imagen":
            options["negative_prompt"] = "blur"
            options["person_generation"] = "allow_adult"
        if edit:
            images = (Image(PNG),)
    return GenerationRequest(
        prompt="a lighthouse at dusk",
        size=size,
        aspect_ratio=ratio,
        n=n,
        seed=seed,
        images=images,
        options=options,
    )


def invalid_request(spec: ModelSpec) -> tuple[GenerationRequest, str, tuple[str, ...]]:
    """A request ``spec`` cannot serve, the field at fault, and the values it allows."""
    caps = spec.capabilities
    if spec.provider == "openai":
        allowed = caps.sizes + ((caps.free_size.describe(),) if caps.free_size else ())
        return GenerationRequest(prompt="x", size="999x999"), "size", allowed
    if caps.aspect_ratios:
        bad = "7:3" if spec.provider == "gemini" else "21:9"
        return GenerationRequest(prompt="x", aspect_ratio=bad), "aspect_ratio", caps.aspect_ratios
    allowed = tuple(str(i) for i in range(caps.n_min, caps.n_max + 1))
    return GenerationRequest(prompt="x", n=caps.n_max + 1), "n", allowed
