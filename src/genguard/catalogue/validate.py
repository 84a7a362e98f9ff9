"""Checking a request against its model's entry before anything is sent.

A request the model cannot serve costs a round trip, sometimes a billed one, to
learn what the catalogue already knows. :func:`check_request` raises an
:class:`~genguard.errors.InvalidRequest` naming the field and the allowed values;
:class:`RequestValidator` adds the lifecycle rules (retired models warn or fail
and name their successor; unknown models pass, warn or fail) and is what each
provider adapter calls at the top of ``send``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, NoReturn

from ..errors import InvalidRequest, ModelRetired, UnknownModel
from ..model import GenerationRequest
from .policy import CataloguePolicy
from .spec import Capabilities, ModelSpec

logger = logging.getLogger("genguard.catalogue")

#: Option keys checked against a list of allowed values: option -> capability field.
_LISTED_OPTIONS: dict[str, str] = {
    "quality": "quality",
    "background": "background",
    "moderation": "moderation",
    "style": "style",
    "response_format": "response_formats",
    "input_fidelity": "input_fidelity",
    "output_format": "output_formats",
    "service_tier": "service_tiers",
    "person_generation": "person_generation",
    "image_size": "image_sizes",
}
#: The option keys each adapter puts on the wire; others are not sent, so not checked.
WIRE_OPTIONS: dict[str, frozenset[str]] = {
    "openai": frozenset(
        {"quality", "background", "output_format", "output_compression", "moderation", "style",
         "response_format", "input_fidelity", "user", "mask", "partial_images", "stream"}
    ),
    "gemini": frozenset({"service_tier", "image_size", "stream"}),
    "imagen": frozenset(
        {"negative_prompt", "image_size", "person_generation", "output_format",
         "output_compression"}
    ),
}  # fmt: skip
#: Options that are only meaningful with input images (edits).
_EDIT_OPTIONS = frozenset({"input_fidelity", "mask"})
_MAX_SHOWN = 24


def _shown(values: tuple[str, ...]) -> str:
    if len(values) > _MAX_SHOWN:
        return ", ".join(values[:_MAX_SHOWN]) + f", ... ({len(values)} in all)"
    return ", ".join(values)


def _value(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(
    spec: ModelSpec, field: str, value: object, allowed: tuple[str, ...], why: str = ""
) -> NoReturn:
    if allowed:
        detail = f"allowed: {_shown(allowed)}"
    else:
        detail = why or f"{spec.name} does not take {field}"
    message = f"{field}={_value(value)} is not supported by {spec.name}: {detail}"
    if why and allowed:
        message += f" ({why})"
    raise InvalidRequest(message, field=field, value=value, allowed=allowed, model=spec.name)


def parse_dims(size: str) -> tuple[int, int] | None:
    """``"1536x1024"`` -> (1536, 1024); None for anything else (bounded input)."""
    if len(size) > 32:
        return None
    width, sep, height = size.strip().lower().partition("x")
    if not sep or not width.isascii() or not height.isascii():
        return None
    if not width.isdigit() or not height.isdigit():
        return None
    w, h = int(width), int(height)
    return (w, h) if 0 < w <= 100_000 and 0 < h <= 100_000 else None


def parse_ratio(ratio: str) -> tuple[int, int] | None:
    """``"16:9"`` -> (16, 9); None for anything else."""
    if len(ratio) > 16:
        return None
    a, sep, b = ratio.strip().partition(":")
    if not sep or not a.isascii() or not b.isascii() or not a.isdigit() or not b.isdigit():
        return None
    w, h = int(a), int(b)
    return (w, h) if 0 < w <= 10_000 and 0 < h <= 10_000 else None


def _size_values(caps: Capabilities) -> tuple[str, ...]:
    return caps.sizes + ((caps.free_size.describe(),) if caps.free_size else ())


def _check_size(spec: ModelSpec, size: str) -> None:
    caps = spec.capabilities
    if spec.provider == "openai":
        if size in caps.sizes:
            return
        dims = parse_dims(size)
        if caps.free_size is not None and dims is not None:
            problem = caps.free_size.problem(*dims)
            if problem is None:
                return
            _fail(spec, "size", size, _size_values(caps), problem)
        _fail(spec, "size", size, _size_values(caps))
        return
    # Gemini and Imagen take a resolution class, or a WxH mapped to the nearest ratio.
    if size == "auto" or size.upper() in caps.image_sizes or size in caps.image_sizes:
        return
    if parse_dims(size) is not None:
        if not caps.aspect_ratios:
            _fail(spec, "size", size, caps.image_sizes, f"{spec.name} takes no aspect ratio")
        return
    allowed = caps.image_sizes + (("WIDTHxHEIGHT",) if caps.aspect_ratios else ())
    _fail(spec, "size", size, allowed)


def _check_ratio(spec: ModelSpec, ratio: str) -> None:
    caps = spec.capabilities
    dims = parse_ratio(ratio)
    if spec.provider == "openai":
        if dims is None:
            _fail(spec, "aspect_ratio", ratio, (), "expected W:H, e.g. 16:9")
        elif caps.free_size is not None:
            wide = max(dims) / min(dims)
            if wide > caps.free_size.max_ratio + 1e-9:
                limit = f"{caps.free_size.max_ratio:g}"
                _fail(spec, "aspect_ratio", ratio, (), f"between 1:{limit} and {limit}:1")
        elif not caps.sizes:
            _fail(spec, "aspect_ratio", ratio, ())
        return
    if ratio not in caps.aspect_ratios:
        _fail(spec, "aspect_ratio", ratio, caps.aspect_ratios)


def _check_images(spec: ModelSpec, request: GenerationRequest) -> None:
    caps = spec.capabilities
    count = len(request.images)
    if not caps.edits or caps.max_input_images == 0:
        _fail(spec, "images", f"{count} image(s)", (), f"{spec.name} does not take input images")
    if count > caps.max_input_images:
        _fail(
            spec, "images", f"{count} images", (),
            f"at most {caps.max_input_images} input image(s)",
        )  # fmt: skip
    for index, image in enumerate(request.images):
        where = f"images[{index}]"
        if caps.input_mime_types and image.mime_type not in caps.input_mime_types:
            _fail(spec, f"{where}.mime_type", image.mime_type, caps.input_mime_types)
        if caps.max_input_image_bytes and len(image.data) > caps.max_input_image_bytes:
            _fail(
                spec, where, f"{len(image.data)} bytes", (),
                f"each input image at most {caps.max_input_image_bytes} bytes",
            )  # fmt: skip


def _check_option(spec: ModelSpec, key: str, value: Any, options: Mapping[str, Any]) -> None:
    caps = spec.capabilities
    field = f"options.{key}"
    listed = _LISTED_OPTIONS.get(key)
    if listed is not None:
        allowed: tuple[str, ...] = getattr(caps, listed)
        shown = value.upper() if key == "image_size" and isinstance(value, str) else value
        if shown not in allowed:
            _fail(spec, field, value, allowed)
    elif key == "output_compression":
        if not caps.output_compression:
            _fail(spec, field, value, ())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            _fail(spec, field, value, (), "an integer from 0 to 100")
        fmt = options.get("output_format")
        if spec.provider == "openai" and fmt not in ("jpeg", "webp"):
            _fail(spec, field, value, (), "needs output_format jpeg or webp")
    elif key == "partial_images":
        top = caps.partial_images_max
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            _fail(spec, field, value, tuple(str(i) for i in range(top + 1)))
    elif key == "stream":
        if value and not caps.streaming:
            _fail(spec, field, value, (), f"{spec.name} does not stream")
    elif key == "negative_prompt":
        if not caps.negative_prompt:
            _fail(spec, field, "<text>", ())
    elif key == "mask":
        if not caps.mask:
            _fail(spec, field, "<image>", ())
    elif key == "user":
        if spec.provider != "openai":
            _fail(spec, field, "<user id>", ())
        if not isinstance(value, str) or len(value) > 256:
            _fail(spec, field, "<user id>", (), "a string of at most 256 characters")


def check_request(
    spec: ModelSpec, request: GenerationRequest, defaults: Mapping[str, Any] | None = None
) -> None:
    """Raise ``InvalidRequest`` if ``spec`` cannot serve ``request``.

    ``defaults`` are the provider's own settings (e.g. a default ``quality``) that
    apply when the request's ``options`` do not set them.
    """
    caps = spec.capabilities
    if not caps.n_min <= request.n <= caps.n_max:
        allowed = tuple(str(i) for i in range(caps.n_min, min(caps.n_max, 16) + 1))
        why = f"n from {caps.n_min} to {caps.n_max}"
        _fail(spec, "n", request.n, allowed if caps.n_max <= 16 else (), why)
    if caps.max_prompt_chars and len(request.prompt) > caps.max_prompt_chars:
        _fail(
            spec, "prompt", f"{len(request.prompt)} characters", (),
            f"at most {caps.max_prompt_chars} characters",
        )  # fmt: skip
    if request.size is not None:
        _check_size(spec, request.size)
    if request.aspect_ratio is not None:
        _check_ratio(spec, request.aspect_ratio)
    if request.images:
        _check_images(spec, request)
    sent = WIRE_OPTIONS.get(spec.provider, frozenset())
    options: dict[str, Any] = {k: v for k, v in (defaults or {}).items() if k in sent}
    options.update({k: v for k, v in request.options.items() if v is not None and k in sent})
    for key, value in options.items():
        if key in _EDIT_OPTIONS and not request.images:
            _fail(spec, f"options.{key}", "<set>", (), "only with input images (an edit)")
        _check_option(spec, key, value, options)
    if options.get("background") == "transparent" and spec.provider == "openai":
        fmt = options.get("output_format", "png")
        if fmt not in ("png", "webp"):
            _fail(
                spec, "options.output_format", fmt, ("png", "webp"), "for a transparent background"
            )


def today_of(wall: float) -> date:
    """The UTC calendar date of a wall-clock timestamp (an injected clock's ``wall()``)."""
    return datetime.fromtimestamp(wall, UTC).date()


class RequestValidator:
    """Checks every request against the catalogue before the provider sends it.

    One per provider. Warnings about a retired or unknown model are logged once
    per model (on the ``genguard.catalogue`` logger, silent unless the app
    configures logging), not once per call.
    """

    __slots__ = ("_passed", "_passed_policy", "_warned", "policy", "provider")

    def __init__(self, provider: str, policy: CataloguePolicy | None = None) -> None:
        self.provider = provider
        self.policy = policy or CataloguePolicy()
        self._warned: set[str] = set()
        #: (model, day) -> the entry that passed the per-model checks that day, under
        #: ``_passed_policy`` (a new policy starts afresh)
        self._passed: dict[tuple[str, date], ModelSpec] = {}
        self._passed_policy = self.policy

    def check(
        self,
        request: GenerationRequest,
        model: str,
        *,
        today: date,
        defaults: Mapping[str, Any] | None = None,
    ) -> ModelSpec | None:
        """The model's entry after every check passed; None for an allowed unknown model."""
        policy = self.policy
        # The model's own checks (known, this provider's, not retired) give the same answer
        # all day: done once per model and day, only the request is checked per call.
        if self._passed_policy is not policy:
            self._passed.clear()
            self._passed_policy = policy
        passed = self._passed.get((model, today))
        if passed is not None:
            if policy.validate:
                check_request(passed, request, defaults)
            return passed
        try:
            spec = policy.catalogue.resolve(model)
        except UnknownModel:
            if policy.on_unknown == "fail":
                raise
            if policy.on_unknown == "warn":
                self._warn_once(model, "model %r is not in the catalogue; not validated", model)
            return None
        if spec.provider != self.provider:
            mine = tuple(s.name for s in policy.catalogue.for_provider(self.provider))
            raise InvalidRequest(
                f"model {model!r} is served by {spec.provider}, not by {self.provider}; "
                f"{self.provider} serves: {_shown(mine)}",
                field="model",
                value=model,
                allowed=mine,
                model=spec.name,
            )
        if spec.status(today) == "retired" and policy.on_retired != "ignore":
            self._retired(spec, model, today)
        if policy.validate:
            check_request(spec, request, defaults)
        if len(self._passed) >= 256:
            self._passed.clear()
        self._passed[(model, today)] = spec
        return spec

    def _retired(self, spec: ModelSpec, model: str, today: date) -> None:
        life = spec.lifecycle
        live = self.policy.catalogue.successor(spec.name, today)
        when = f" on {life.retirement.isoformat()}" if life.retirement else ""
        text = f"model {model!r} was retired{when}"
        if life.successor:
            text += f"; its successor is {life.successor}"
            if live is not None and live.name != life.successor:
                text += f" (itself retired; use {live.name})"
        if self.policy.on_retired == "fail":
            raise ModelRetired(
                text,
                model=model,
                retired_on=life.retirement.isoformat() if life.retirement else None,
                successor=live.name if live is not None else life.successor,
            )
        self._warn_once(model, "%s", text)

    def _warn_once(self, model: str, message: str, *args: object) -> None:
        if model in self._warned or len(self._warned) >= 256:
            return
        self._warned.add(model)
        logger.warning(message, *args)


__all__ = [
    "WIRE_OPTIONS",
    "RequestValidator",
    "check_request",
    "parse_dims",
    "parse_ratio",
    "today_of",
]
