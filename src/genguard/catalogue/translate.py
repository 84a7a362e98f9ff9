"""Translating a request for another model, so a fallback keeps the request's meaning.

Gemini speaks ``imageConfig.aspectRatio`` and ``imageSize``, OpenAI a ``WxH``
``size`` (a fixed list, or free-form on gpt-image-2), Imagen ``aspectRatio``,
``sampleImageSize`` and ``numberOfImages``. :func:`translate` rewrites a
:class:`GenerationRequest` for a target model's entry: each value the target
cannot take becomes the nearest one it can, and every such step is a
:class:`~genguard.model.Change` the result carries. What cannot be carried over
without changing what was asked for (more images than the target returns, input
images or a mask it cannot take, a conversation it cannot replay, a transparent
background) raises :class:`Untranslatable`, and the fallback skips that target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InvalidRequest
from ..model import Change, GenerationRequest
from .spec import Capabilities, FreeSize, ModelSpec
from .validate import parse_dims, parse_ratio

#: Long side in pixels of each resolution class (Gemini ``imageSize``, Imagen
#: ``sampleImageSize``).
IMAGE_SIZE_PIXELS: dict[str, int] = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}
DEFAULT_LONG_SIDE = 1024
#: How quality words map between the GPT image and dall-e vocabularies: (from, to) -> to.
_QUALITY = {
    ("hd", "high"): "high",
    ("standard", "medium"): "medium",
    ("high", "hd"): "hd",
    ("medium", "standard"): "standard",
    ("low", "standard"): "standard",
}


class Untranslatable(InvalidRequest):
    """The target model cannot serve this request without changing what it asks for."""


@dataclass(frozen=True, slots=True)
class Translation:
    """The request rewritten for ``model``, and what changed on the way."""

    request: GenerationRequest
    model: str
    changes: tuple[Change, ...]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class _Builder:
    """Accumulates the translated fields and the changes, one concern per method."""

    def __init__(self, request: GenerationRequest, spec: ModelSpec) -> None:
        self.request = request
        self.spec = spec
        self.caps: Capabilities = spec.capabilities
        self.fields: dict[str, Any] = {}
        self.options: dict[str, Any] = dict(request.options)
        self.changes: list[Change] = []

    def change(self, field: str, before: object, after: object, reason: str) -> None:
        if _text(before) != _text(after):
            self.changes.append(Change(field, _text(before), _text(after), reason))

    def refuse(self, field: str, value: object, why: str) -> Untranslatable:
        return Untranslatable(
            f"cannot send this request to {self.spec.name}: {why}",
            field=field,
            value=value,
            model=self.spec.name,
        )

    # -- what must carry over, or the target is skipped ----------------------------------

    def count(self) -> None:
        n = self.request.n
        if n > self.caps.n_max:
            raise self.refuse("n", n, f"n={n} but it returns at most {self.caps.n_max} image(s)")

    def inputs(self) -> None:
        request, caps = self.request, self.caps
        if request.images:
            count = len(request.images)
            if not caps.edits or caps.max_input_images == 0:
                raise self.refuse("images", count, "it takes no input images (an edit)")
            if count > caps.max_input_images:
                raise self.refuse(
                    "images", count, f"{count} input images, at most {caps.max_input_images}"
                )
            for index, image in enumerate(request.images):
                if caps.input_mime_types and image.mime_type not in caps.input_mime_types:
                    raise self.refuse(
                        f"images[{index}]", image.mime_type, f"{image.mime_type} input images"
                    )
                if caps.max_input_image_bytes and len(image.data) > caps.max_input_image_bytes:
                    raise self.refuse(f"images[{index}]", len(image.data), "input image too large")
        if self.options.get("mask") is not None and not caps.mask:
            raise self.refuse("options.mask", "<mask>", "it takes no mask")
        if request.history and self.spec.provider != "gemini":
            raise self.refuse("history", len(request.history), "it cannot replay a conversation")
        if self.options.get("background") == "transparent" and "transparent" not in caps.background:
            raise self.refuse("options.background", "transparent", "no transparent background")

    # -- geometry: aspect ratio, size, resolution ----------------------------------------

    def geometry(self) -> None:
        request = self.request
        ratio: float | None = None
        long_side: int | None = None
        image_size = self.options.get("image_size")
        if isinstance(image_size, str) and image_size.upper() in IMAGE_SIZE_PIXELS:
            long_side = IMAGE_SIZE_PIXELS[image_size.upper()]
        if request.aspect_ratio is not None:
            parsed = parse_ratio(request.aspect_ratio)
            if parsed is not None:
                ratio = parsed[0] / parsed[1]
        size = request.size
        if size is not None and size != "auto":
            dims = parse_dims(size)
            if dims is not None:
                ratio = ratio if ratio is not None else dims[0] / dims[1]
                long_side = long_side or max(dims)
            elif size.upper() in IMAGE_SIZE_PIXELS:
                long_side = IMAGE_SIZE_PIXELS[size.upper()]
        if ratio is None and long_side is None:
            return
        if self.spec.provider == "openai":
            self._openai_size(ratio, long_side)
        else:
            self._google_geometry(ratio, long_side)

    def _openai_size(self, ratio: float | None, long_side: int | None) -> None:
        request, caps = self.request, self.caps
        before_field, before = (
            ("aspect_ratio", request.aspect_ratio)
            if request.aspect_ratio is not None
            else ("size", request.size)
        )
        image_size = self.options.pop("image_size", None)
        if image_size is not None:
            self.change("options.image_size", image_size, None, "expressed as a size")
        if request.size is not None and request.size in caps.sizes and request.aspect_ratio is None:
            return
        target_ratio = 1.0 if ratio is None else ratio
        target_long = long_side or DEFAULT_LONG_SIDE
        dims = parse_dims(request.size) if request.size else None
        if caps.free_size is not None:
            if dims is not None and caps.free_size.problem(*dims) is None and ratio is not None:
                chosen = request.size
            else:
                chosen = _free_size(caps.free_size, target_ratio, target_long)
            why = "nearest size it takes (sides multiple of 16)"
        else:
            fixed = [s for s in caps.sizes if parse_dims(s) is not None]
            if not fixed:
                return
            chosen = min(fixed, key=lambda s: _size_distance(s, target_ratio, target_long))
            why = f"nearest of the sizes it takes ({', '.join(fixed)})"
        self.fields["size"] = chosen
        self.fields["aspect_ratio"] = None
        if request.aspect_ratio is not None:
            self.change("aspect_ratio", request.aspect_ratio, None, "OpenAI takes a size")
        self.change("size", before if before_field == "size" else None, chosen, why)

    def _google_geometry(self, ratio: float | None, long_side: int | None) -> None:
        request, caps = self.request, self.caps
        if ratio is not None:
            if not caps.aspect_ratios:
                self.change("aspect_ratio", request.aspect_ratio, None, "it takes no aspect ratio")
                self.fields["aspect_ratio"] = None
            elif request.aspect_ratio in caps.aspect_ratios:
                self.fields["aspect_ratio"] = request.aspect_ratio
            else:
                chosen = min(caps.aspect_ratios, key=lambda r: _ratio_distance(r, ratio))
                self.fields["aspect_ratio"] = chosen
                self.change(
                    "aspect_ratio",
                    request.aspect_ratio if request.aspect_ratio is not None else None,
                    chosen,
                    f"nearest of the ratios it takes ({', '.join(caps.aspect_ratios)})",
                )
        if request.size is not None:
            self.fields["size"] = None
            self.change("size", request.size, None, "expressed as aspect ratio and image size")
        before = self.options.pop("image_size", None)
        if long_side is None:
            return
        if not caps.image_sizes:
            if before is not None or long_side > 1.5 * DEFAULT_LONG_SIDE:
                self.change(
                    "options.image_size", before or f"{long_side}px", None,
                    "it has one resolution (about 1K)",
                )  # fmt: skip
            return
        chosen_size = min(caps.image_sizes, key=lambda s: _pixels_distance(s, long_side))
        self.options["image_size"] = chosen_size
        if before is not None:
            self.change("options.image_size", before, chosen_size, "nearest image size it takes")
        else:
            self.change(
                "options.image_size", f"{long_side}px", chosen_size, "nearest image size it takes"
            )

    # -- everything else -----------------------------------------------------------------

    def seed(self) -> None:
        if self.request.seed is not None and not self.caps.seed:
            self.fields["seed"] = None
            self.change("seed", self.request.seed, None, f"{self.spec.name} takes no seed")

    def negative_prompt(self) -> None:
        negative = self.options.get("negative_prompt")
        if negative is None or self.caps.negative_prompt:
            return
        self.options.pop("negative_prompt")
        prompt = f"{self.request.prompt}\n\nAvoid: {negative}"
        self.fields["prompt"] = prompt
        self.change("options.negative_prompt", "<text>", None, "moved into the prompt")
        self.change("prompt", "<original>", "<original + Avoid: ...>", "negative prompt folded in")

    def options_fit(self) -> None:
        caps = self.caps
        listed = {
            "quality": caps.quality,
            "background": caps.background,
            "moderation": caps.moderation,
            "style": caps.style,
            "response_format": caps.response_formats,
            "input_fidelity": caps.input_fidelity,
            "output_format": caps.output_formats,
            "service_tier": caps.service_tiers,
            "person_generation": caps.person_generation,
        }
        for key, allowed in listed.items():
            value = self.options.get(key)
            if value is None or value in allowed:
                continue
            mapped = None
            if key == "quality":
                mapped = next(
                    (_QUALITY[(value, a)] for a in allowed if (value, a) in _QUALITY), None
                )
            if mapped is not None:
                self.options[key] = mapped
                self.change(f"options.{key}", value, mapped, "its nearest equivalent")
            else:
                del self.options[key]
                self.change(f"options.{key}", value, None, f"{self.spec.name} has no such option")
        if "output_compression" in self.options and not caps.output_compression:
            self.change("options.output_compression", self.options.pop("output_compression"), None,
                        f"{self.spec.name} has no such option")  # fmt: skip
        if "user" in self.options and self.spec.provider != "openai":
            self.change("options.user", "<id>", None, "only OpenAI takes an end-user id")
            del self.options["user"]
        if "partial_images" in self.options and not caps.partial_images_max:
            self.change("options.partial_images", self.options.pop("partial_images"), None,
                        "it does not stream partial images")  # fmt: skip

    def build(self) -> Translation:
        request = replace(self.request, **self.fields, options=self.options)
        return Translation(request, self.spec.name, tuple(self.changes))


def translate(request: GenerationRequest, spec: ModelSpec) -> Translation:
    """``request`` rewritten for the model ``spec`` describes, or ``Untranslatable``."""
    builder = _Builder(request, spec)
    builder.count()
    builder.inputs()
    builder.geometry()
    builder.seed()
    builder.negative_prompt()
    builder.options_fit()
    return builder.build()


def _log_ratio(ratio: str) -> float:
    parsed = parse_ratio(ratio)
    assert parsed is not None
    return math.log(parsed[0] / parsed[1])


def _ratio_distance(ratio: str, target: float) -> float:
    return abs(_log_ratio(ratio) - math.log(target))


def _pixels_distance(size: str, long_side: int) -> tuple[float, int]:
    pixels = IMAGE_SIZE_PIXELS.get(size.upper(), DEFAULT_LONG_SIDE)
    return (abs(math.log(pixels / long_side)), pixels)


def _size_distance(size: str, ratio: float, long_side: int) -> tuple[float, float]:
    dims = parse_dims(size)
    assert dims is not None
    shape = abs(math.log(dims[0] / dims[1]) - math.log(ratio))
    return (round(shape, 6), abs(math.log(max(dims) / long_side)))


def _free_size(rule: FreeSize, ratio: float, long_side: int) -> str:
    """The ``WxH`` nearest ``ratio`` at ``long_side`` that ``rule`` allows."""
    ratio = min(max(ratio, 1 / rule.max_ratio), rule.max_ratio)
    long_side = min(long_side, rule.max_side)
    step = rule.multiple
    for _ in range(64):
        width = long_side if ratio >= 1 else long_side * ratio
        height = width / ratio
        w = max(step, round(width / step) * step)
        h = max(step, round(height / step) * step)
        if rule.problem(w, h) is None:
            return f"{w}x{h}"
        long_side = int(long_side * 0.9)
    return f"{step * 64}x{step * 64}"


__all__ = ["IMAGE_SIZE_PIXELS", "Translation", "Untranslatable", "translate"]
