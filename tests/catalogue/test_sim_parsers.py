"""The simulator's Imagen parser and model checks: any input gives a request, a typed 400
body, or None; never an exception that would surface as a 500."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.catalogue import default_catalogue
from genguard.sim.imagen import parse_predict
from genguard.sim.models import model_error
from genguard.sim.requests import (
    RequestError,
    SimRequest,
    parse_gemini,
    parse_openai_edit,
    parse_openai_generation,
)

MODELS = st.sampled_from([*default_catalogue().names, "unknown-model", "models/gpt-image-2"])
KEYS = st.sampled_from(
    ["instances", "prompt", "parameters", "sampleCount", "aspectRatio", "sampleImageSize",
     "personGeneration", "seed", "includeRaiReason", "negativePrompt", "contents", "parts",
     "text", "generationConfig", "imageConfig", "imageSize", "candidateCount", "serviceTier",
     "model", "n", "size", "quality", "background", "output_format", "output_compression",
     "moderation", "style", "response_format", "input_fidelity"]
)  # fmt: skip
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 20), st.text(max_size=8),
    st.sampled_from(["1:1", "16:9", "21:9", "7:3", "1K", "2K", "512", "1024x1024", "999x999",
                     "2048x1152", "high", "hd", "webp", "transparent", "flex", "allow_adult"]),
)  # fmt: skip
JSON = st.recursive(
    VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)


def _check_error(body: dict[str, Any] | None) -> None:
    if body is not None:
        assert isinstance(body["error"], dict) and body["error"]["message"]


@settings(max_examples=300, deadline=None)
@given(MODELS, JSON)
def test_predict_bodies_parse_or_give_a_google_400(model: str, body: Any) -> None:
    raw = json.dumps(body).encode()
    try:
        sreq = parse_predict("/v1beta/models/x:predict", model, raw, "k")
    except RequestError as error:
        assert error.status == 400 and error.body["error"]["status"] == "INVALID_ARGUMENT"
        return
    assert isinstance(sreq, SimRequest) and sreq.options["method"] == "predict"
    _check_error(model_error(sreq))


@settings(max_examples=300, deadline=None)
@given(MODELS, JSON)
def test_every_api_request_is_checked_against_its_model_without_raising(
    model: str, body: Any
) -> None:
    raw = json.dumps(body).encode()
    parsed: list[SimRequest] = []
    for parse in (
        lambda: parse_gemini("/v1/models/x:generateContent", model, raw, "k"),
        lambda: (
            parse_openai_generation(
                "/v1/images/generations", json.dumps({**body, "model": model}).encode(), "k"
            )
            if isinstance(body, dict)
            else parse_openai_generation("/v1/images/generations", raw, "k")
        ),
    ):
        with contextlib.suppress(RequestError):
            parsed.append(parse())
    if isinstance(body, dict):
        fields = {k: str(v) for k, v in body.items() if isinstance(k, str)}
        files = [{"name": "image[]", "filename": "a.png", "content_type": "image/png", "bytes": 3}]
        with contextlib.suppress(RequestError):
            parsed.append(
                parse_openai_edit("/v1/images/edits", {**fields, "model": model}, files, "d", "k")
            )
    for sreq in parsed:
        _check_error(model_error(sreq))


def test_predict_without_a_prompt_is_a_400() -> None:
    raw = json.dumps({"instances": [{}], "parameters": {}}).encode()
    try:
        parse_predict("/p", "imagen-4.0-generate-001", raw, "k")
    except RequestError as error:
        assert "prompt is required" in error.body["error"]["message"]
    else:
        raise AssertionError("expected a 400")
