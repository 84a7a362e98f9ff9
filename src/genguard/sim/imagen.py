"""Imagen ``models/{model}:predict`` in the simulator: parsing and rendering.

Imagen shares the Google wire format with Gemini (``x-goog-api-key``, the
``google.rpc.Status`` error envelope, ``RetryInfo`` on 429), so its requests are
``api="gemini"`` records with ``options["method"] == "predict"``: profiles and
``script("gemini", ...)`` apply to both. A blocked reply is a RAI-filtered
result: every sample replaced by ``raiFilteredReason`` when the request asked
for reasons, otherwise the empty body ``{}`` the API sends when all were filtered.
"""

from __future__ import annotations

import json
from typing import Any

from . import wire
from .png import parse_gemini_size, png_token
from .requests import RequestError, SimRequest, request_digest

PREDICT = "predict"
RAI_REASON = (
    "Your current safety filter threshold filtered out {n} generated images. You will not be "
    "charged for blocked images. Try rephrasing the prompt. If you think this was an error, "
    "send feedback."
)


def _bad(message: str) -> RequestError:
    return RequestError(400, wire.gemini_error(400, message))


def parse_predict(path: str, model: str, raw: bytes, key: str | None) -> SimRequest:
    """A ``:predict`` body (``instances[0].prompt`` and ``parameters``) as a SimRequest."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        raise _bad("Invalid JSON payload received. Expected an object.")
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise _bad("* PredictRequest.instances: exactly one instance is required\n")
    prompt = instances[0].get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _bad("* PredictRequest.instances[0].prompt: prompt is required\n")
    params = body.get("parameters", {})
    if not isinstance(params, dict):
        raise _bad("Invalid value at 'parameters'.")
    count = params.get("sampleCount", 4)
    if isinstance(count, bool) or not isinstance(count, int):
        raise _bad("Invalid value at 'parameters.sampleCount'.")
    ratio = params.get("aspectRatio")
    size = params.get("sampleImageSize")
    if (ratio is not None and not isinstance(ratio, str)) or (
        size is not None and not isinstance(size, str)
    ):
        raise _bad("Invalid value at 'parameters'.")
    dims = parse_gemini_size(ratio, size)
    if dims is None:
        raise _bad(f"Invalid value at 'parameters': aspectRatio {ratio!r} or size {size!r}.")
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _bad("Invalid value at 'parameters.seed'.")
    return SimRequest(
        api="gemini",
        path=path,
        model=model,
        prompt=prompt,
        key=key,
        body=body,
        digest=request_digest(path, raw),
        width=dims[0],
        height=dims[1],
        n=count,
        seed=seed,
        options={
            "method": PREDICT,
            "parameters": params,
            "rai_reason": params.get("includeRaiReason") is True,
            "input_images": 0,
            "contents": [],
            "want_image": True,
        },
    )


def predict_success(tokens: list[str], mime: str = "image/png") -> dict[str, Any]:
    """``{"predictions": [...]}`` with one image per (placeholder) token."""
    return {"predictions": [{"bytesBase64Encoded": t, "mimeType": mime} for t in tokens]}


def predict_filtered(sreq: SimRequest, keep: list[str]) -> dict[str, Any]:
    """Samples past ``keep`` were filtered: reasons if asked for, else left out."""
    filtered = max(0, sreq.n - len(keep))
    body = predict_success(keep)
    if sreq.options.get("rai_reason") and filtered:
        reason = {"raiFilteredReason": RAI_REASON.format(n=filtered)}
        body["predictions"].extend(reason for _ in range(filtered))
    return body if body["predictions"] else {}


def render_success(sreq: SimRequest, width: int, height: int, colours: list[int]) -> dict[str, Any]:
    del sreq
    return predict_success([png_token(width, height, c) for c in colours])


__all__ = ["PREDICT", "parse_predict", "predict_filtered", "predict_success", "render_success"]
