"""The stream decoders read any event body without a stray exception: a typed error or a step."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from genguard import Client, GenGuardError
from genguard.model import Image
from genguard.providers.gemini import GeminiProvider
from genguard.providers.gemini_stream import _Merger
from genguard.providers.openai import OpenAIProvider
from genguard.providers.openai_stream import _Reader
from genguard.providers.sse import SSEEvent

_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "type", "b64_json", "partial_image_index", "usage", "output_format", "error",
        "candidates", "content", "parts", "inlineData", "thought", "data", "finishReason",
        "index", "promptFeedback", "blockReason", "usageMetadata", "code", "message",
    ]
)  # fmt: skip
# Objects made of the fields the decoders look at, holding anything at all.
_shaped: st.SearchStrategy[Any] = st.recursive(
    _json,
    lambda inner: st.dictionaries(_keys, inner, max_size=4) | st.lists(inner, max_size=2),
    max_leaves=16,
)
_types = st.sampled_from(
    ["message", "image_generation.partial_image", "image_generation.completed", "error", "x"]
)


class _Progress:
    partial_images = 2
    max_event_bytes = 1 << 20

    def __init__(self) -> None:
        self.partials: list[tuple[int, Image]] = []

    def opened(self) -> None: ...

    def event(self) -> None: ...

    def partial(self, index: int, image: Image) -> None:
        self.partials.append((index, image))


def _call(provider: OpenAIProvider | GeminiProvider) -> Any:
    return Client(provider).new_call(__import__("genguard").GenerationRequest(prompt="x"))


def _data(value: Any, raw: bool) -> str:
    return value if raw and isinstance(value, str) else json.dumps(value)


@given(st.lists(st.tuples(_types, _shaped, st.booleans()), max_size=5))
@settings(max_examples=300, deadline=None)
def test_openai_reader_never_raises_a_stray_exception(events: list[tuple[str, Any, bool]]) -> None:
    provider = OpenAIProvider("k")
    reader = _Reader(provider, _call(provider), {}, _Progress())
    try:
        for kind, value, raw in events:
            reader.read(SSEEvent(kind, _data(value, raw)))
        result = reader.result()
    except GenGuardError:
        return
    assert result.images and all(isinstance(i.data, bytes) for i in result.images)


@given(st.lists(st.tuples(_shaped, st.booleans()), max_size=5))
@settings(max_examples=300, deadline=None)
def test_gemini_merger_never_raises_a_stray_exception(chunks: list[tuple[Any, bool]]) -> None:
    provider = GeminiProvider("k")
    merger = _Merger(provider, _call(provider), {}, _Progress())
    try:
        for value, raw in chunks:
            merger.read(SSEEvent("message", _data(value, raw)))
        result = merger.result()
    except GenGuardError:
        return
    assert result.images


def test_openai_reader_reads_a_well_formed_stream() -> None:
    provider = OpenAIProvider("k")
    progress = _Progress()
    reader = _Reader(provider, _call(provider), {"x-request-id": "req_1"}, progress)
    png = "iVBORw0KGgo="
    reader.read(
        SSEEvent(
            "image_generation.partial_image",
            json.dumps({"b64_json": png, "partial_image_index": 0}),
        )
    )
    reader.read(
        SSEEvent(
            "message",
            json.dumps(
                {
                    "type": "image_generation.completed",
                    "b64_json": png,
                    "output_format": "webp",
                    "usage": {"input_tokens": 3, "output_tokens": 7, "total_tokens": 10},
                }
            ),
        )
    )
    result = reader.result()
    assert [i for i, _ in progress.partials] == [0]
    assert result.image.mime_type == "image/webp"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (3, 7)
    assert result.request_id == "req_1"
