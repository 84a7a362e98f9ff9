"""The simulator answers like the real APIs when a parameter does not fit the model.

Reads the wire fields of a parsed request (OpenAI JSON or multipart fields,
Gemini ``generationConfig``, Imagen ``parameters``) and compares them with the
model's catalogue entry, returning the API's own 400 body: OpenAI
``invalid_value`` with ``param``, Google ``INVALID_ARGUMENT``. Models the
catalogue does not know are served unchecked, as before.
"""

from __future__ import annotations

from typing import Any

from ..catalogue.spec import Capabilities, ModelSpec
from ..catalogue.store import Catalogue, default_catalogue
from . import wire
from .requests import SimRequest, pick

_OPENAI_LISTED = {
    "quality": "quality",
    "background": "background",
    "moderation": "moderation",
    "style": "style",
    "response_format": "response_formats",
    "output_format": "output_formats",
    "input_fidelity": "input_fidelity",
}


def _openai_bad(
    param: str, value: object, allowed: tuple[str, ...], why: str = ""
) -> dict[str, Any]:
    text = f"Invalid value: {value!r}."
    if allowed:
        text += " Supported values are: " + ", ".join(f"'{a}'" for a in allowed) + "."
    if why:
        text += f" {why}"
    return wire.openai_invalid_value(param, text)


def _google_bad(
    where: str, value: object, allowed: tuple[str, ...], why: str = ""
) -> dict[str, Any]:
    text = f"Invalid value at '{where}' ({value!r})"
    if allowed:
        text += ": supported values are " + ", ".join(allowed)
    if why:
        text += f": {why}"
    return wire.gemini_error(400, text + ".")


def _size_ok(caps: Capabilities, size: str) -> bool:
    if size in caps.sizes:
        return True
    width, sep, height = size.partition("x")
    if (
        caps.free_size is None
        or not sep
        or not (width + height).isascii()
        or not width.isdigit()
        or not height.isdigit()
    ):
        return False
    return caps.free_size.problem(int(width), int(height)) is None


def _openai(spec: ModelSpec, sreq: SimRequest) -> dict[str, Any] | None:
    caps = spec.capabilities
    edit = sreq.path.endswith("/edits")
    fields: dict[str, Any] = sreq.body["fields"] if edit else sreq.body
    if edit and not caps.edits:
        return _openai_bad("model", spec.name, (), "This model does not support image edits.")
    if not caps.n_min <= sreq.n <= caps.n_max:
        return _openai_bad("n", sreq.n, (), f"Expected {caps.n_min}..{caps.n_max} for {spec.name}.")
    size = fields.get("size")
    if isinstance(size, str) and not _size_ok(caps, size):
        rule = caps.free_size.describe() if caps.free_size is not None else ""
        return _openai_bad("size", size, caps.sizes, f"Or any {rule}." if rule else "")
    for param, capability in _OPENAI_LISTED.items():
        value = fields.get(param)
        if value is not None and value not in getattr(caps, capability):
            allowed: tuple[str, ...] = getattr(caps, capability)
            if not allowed:
                return wire.openai_error(
                    400, f"Unknown parameter: '{param}'.", err_code="unknown_parameter", param=param
                )
            return _openai_bad(param, value, allowed)
    compression = fields.get("output_compression")
    if compression is not None and not caps.output_compression:
        return wire.openai_error(
            400, "Unknown parameter: 'output_compression'.", err_code="unknown_parameter",
            param="output_compression",
        )  # fmt: skip
    if edit:
        images = sum(1 for f in sreq.body["files"] if f["name"] in ("image", "image[]"))
        if images > caps.max_input_images:
            return _openai_bad(
                "image", f"{images} images", (), f"At most {caps.max_input_images} images."
            )
        if any(f["name"] == "mask" for f in sreq.body["files"]) and not caps.mask:
            return _openai_bad("mask", "mask", (), "This model does not support masks.")
    return None


def _gemini(spec: ModelSpec, sreq: SimRequest) -> dict[str, Any] | None:
    caps = spec.capabilities
    config = pick(sreq.body, "generationConfig", "generation_config") or {}
    image_config = pick(config, "imageConfig", "image_config") or {}
    ratio = pick(image_config, "aspectRatio", "aspect_ratio")
    if ratio is not None and ratio not in caps.aspect_ratios:
        return _google_bad("generation_config.image_config.aspect_ratio", ratio, caps.aspect_ratios)
    size = pick(image_config, "imageSize", "image_size")
    if size is not None and size not in caps.image_sizes:
        why = "" if caps.image_sizes else "image_size is not supported for this model"
        return _google_bad("generation_config.image_config.image_size", size, caps.image_sizes, why)
    count = pick(config, "candidateCount", "candidate_count")
    if count is not None and not (isinstance(count, int) and caps.n_min <= count <= caps.n_max):
        return _google_bad("generation_config.candidate_count", count, (), f"1..{caps.n_max}")
    tier = pick(sreq.body, "serviceTier", "service_tier")
    if tier is not None and str(tier).lower() not in caps.service_tiers:
        return _google_bad("service_tier", tier, caps.service_tiers)
    return None


def _imagen(spec: ModelSpec, sreq: SimRequest) -> dict[str, Any] | None:
    caps = spec.capabilities
    params: dict[str, Any] = sreq.options["parameters"]
    if not caps.n_min <= sreq.n <= caps.n_max:
        return _google_bad("parameters.sample_count", sreq.n, (), f"1..{caps.n_max}")
    ratio = params.get("aspectRatio")
    if ratio is not None and ratio not in caps.aspect_ratios:
        return _google_bad("parameters.aspect_ratio", ratio, caps.aspect_ratios)
    size = params.get("sampleImageSize")
    if size is not None and size not in caps.image_sizes:
        return _google_bad("parameters.sample_image_size", size, caps.image_sizes)
    person = params.get("personGeneration")
    if person is not None and person not in caps.person_generation:
        return _google_bad("parameters.person_generation", person, caps.person_generation)
    return None


def model_error(sreq: SimRequest, catalogue: Catalogue | None = None) -> dict[str, Any] | None:
    """The API's 400 body if ``sreq`` asks its model for something it cannot do, else None."""
    if sreq.api == "moderations":
        return None
    spec = (catalogue or default_catalogue()).get(sreq.model)
    if spec is None:
        return None
    predict = sreq.options.get("method") == "predict"
    if sreq.api == "openai":
        return _openai(spec, sreq) if spec.provider == "openai" else None
    if predict:
        return _imagen(spec, sreq) if spec.provider == "imagen" else None
    return _gemini(spec, sreq) if spec.provider == "gemini" else None


__all__ = ["model_error"]
