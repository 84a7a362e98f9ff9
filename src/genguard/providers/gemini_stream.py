"""Gemini ``streamGenerateContent?alt=sse``: chunks as they arrive, then the merged result.

Each ``data:`` line is one ``GenerateContentResponse`` chunk holding a slice of
the candidates' parts. Thought images (``thought: true`` with ``inlineData``,
the drafts Gemini 3 image models sketch before the final image) are reported as
partial images. The chunks are merged into one response and read by the same
code as ``generateContent``, so blocks, "no image" and thought signatures mean
exactly what they mean there. The stream is complete once a candidate carries a
``finishReason`` (or the prompt was blocked); ending before that is an
``IncompleteStream``.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ..errors import GenGuardError, IncompleteStream, MalformedStreamEvent
from ..model import Call, GenerationResult, Image
from . import _wire
from .event_stream import StreamProgress, open_event_stream
from .gemini import _GenerateResponse, _usage, google_error
from .sse import SSEEvent
from .transport import HttpTransport, RawResponse

if TYPE_CHECKING:
    from .gemini import GeminiProvider

#: Candidates kept per stream (a chunk naming a higher index is malformed).
MAX_CANDIDATES = 16


def stream_url(provider: GeminiProvider, model: str) -> str:
    name = model.removeprefix("models/")
    return f"{provider.base_url}/{provider.api_version}/models/{name}:streamGenerateContent?alt=sse"


async def stream_gemini(
    provider: GeminiProvider, call: Call, transport: HttpTransport, progress: StreamProgress
) -> GenerationResult:
    """One streamed attempt: POST to ``streamGenerateContent``, report partials, merge chunks."""
    body = _wire.dumps(provider.build_body(call.request, call.model))
    key = provider._key.get()
    async with open_event_stream(
        transport,
        stream_url(provider, call.model),
        headers=provider._headers,
        body=body,
        provider=provider.name,
        progress=progress,
    ) as source:
        if not source.ok:
            raw = await source.read_body()
            raise google_error(raw, provider=provider.name, api_key=key, now=call.clock.wall())
        if not source.is_event_stream:  # not SSE: one JSON array of chunks (or one chunk)
            raw = await source.read_body()
            merger = _Merger(provider, call, source.headers, progress)
            with _wire.response_errors(provider.name, raw.status, None):
                data = _wire.loads(raw.body)
                for chunk in data if isinstance(data, list) else [data]:
                    merger.add(_wire.as_dict(chunk, "chunk"), None)
            return merger.result()
        merger = _Merger(provider, call, source.headers, progress)
        async with aclosing(source.read()) as events:
            async for event in events:
                merger.read(event)
        return merger.result()


class _Candidate:
    __slots__ = ("finish", "message", "parts", "ratings")

    def __init__(self) -> None:
        self.parts: list[Any] = []
        self.finish: str | None = None
        self.message: Any = None
        self.ratings: Any = None


class _Merger:
    """Folds chunks into one ``GenerateContentResponse`` and reports thought images."""

    __slots__ = (
        "blocked",
        "call",
        "candidates",
        "headers",
        "partials",
        "progress",
        "provider",
        "top",
    )

    def __init__(
        self,
        provider: GeminiProvider,
        call: Call,
        headers: dict[str, str],
        progress: StreamProgress,
    ) -> None:
        self.provider = provider
        self.call = call
        self.headers = headers
        self.progress = progress
        self.candidates: dict[int, _Candidate] = {}
        self.top: dict[str, Any] = {}
        self.partials = 0
        self.blocked = False

    def read(self, event: SSEEvent) -> None:
        try:
            data = json.loads(event.data)
        except (ValueError, RecursionError):
            raise self._malformed(event, "is not valid JSON") from None
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise self._malformed(event, f"should be an object, got {_wire.type_name(data)}")
        try:
            self.add(data, event)
        except _wire.WireError as exc:
            raise self._malformed(event, str(exc)) from None

    def _malformed(self, event: SSEEvent | None, what: str) -> MalformedStreamEvent:
        return MalformedStreamEvent(
            f"{self.provider.name}: stream chunk {what}",
            event=event.event if event is not None else None,
            provider=self.provider.name,
            request_id=_wire.wire_token(self.top.get("responseId"), self.provider._key.get()),
        )

    def add(self, data: dict[str, Any], event: SSEEvent | None) -> None:
        error = data.get("error")
        if isinstance(error, dict):
            code = _wire.lenient_int(error.get("code"))
            status = code if code is not None and 400 <= code <= 599 else 500
            raw = RawResponse(
                status=status, headers=self.headers, body=_wire.dumps(data), received_at=0.0
            )
            raise google_error(
                raw,
                provider=self.provider.name,
                api_key=self.provider._key.get(),
                now=self.call.clock.wall(),
            )
        for name in ("responseId", "modelVersion", "usageMetadata", "promptFeedback"):
            if data.get(name) is not None:
                self.top[name] = data[name]
        feedback = data.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self.blocked = True
        chunk_candidates = _wire.opt_list(data, "candidates", "chunk") or []
        for position, raw_candidate in enumerate(chunk_candidates):
            candidate = _wire.as_dict(raw_candidate, f"candidates[{position}]")
            index = _wire.lenient_int(candidate.get("index"))
            index = position if index is None else index
            if not 0 <= index < MAX_CANDIDATES:
                raise _wire.WireError(f"candidates[{position}].index {index} is out of range")
            merged = self.candidates.setdefault(index, _Candidate())
            content = _wire.opt_dict(candidate, "content", f"candidates[{position}]")
            parts = _wire.opt_list(content, "parts", "content") if content else None
            for part in parts or ():
                self._part(_wire.as_dict(part, "part"))
                merged.parts.append(part)
            finish = _wire.opt_str(candidate, "finishReason", f"candidates[{position}]")
            if finish:
                merged.finish = finish
            if candidate.get("finishMessage") is not None:
                merged.message = candidate["finishMessage"]
            if candidate.get("safetyRatings") is not None:
                merged.ratings = candidate["safetyRatings"]

    def _part(self, part: dict[str, Any]) -> None:
        if part.get("thought") is not True:
            return
        inline = part.get("inlineData")
        if inline is None:
            inline = part.get("inline_data")
        if not isinstance(inline, dict):
            return
        data = _wire.b64decode(inline.get("data"), "inlineData.data")
        mime = _wire.lenient_str(inline.get("mimeType")) or "image/png"
        self.progress.partial(self.partials, Image(data, mime))
        self.partials += 1

    @property
    def complete(self) -> bool:
        return self.blocked or any(c.finish for c in self.candidates.values())

    def result(self) -> GenerationResult:
        if not self.complete:
            raise IncompleteStream(
                f"{self.provider.name}: the stream ended before any candidate finished",
                reason="ended_without_completed",
                provider=self.provider.name,
                request_id=_wire.wire_token(self.top.get("responseId"), self.provider._key.get()),
            )
        merged: dict[str, Any] = dict(self.top)
        candidates = []
        for index in sorted(self.candidates):
            candidate = self.candidates[index]
            content = {"role": "model", "parts": candidate.parts}
            entry: dict[str, Any] = {"index": index, "content": content}
            if candidate.finish:
                entry["finishReason"] = candidate.finish
            if candidate.message is not None:
                entry["finishMessage"] = candidate.message
            if candidate.ratings is not None:
                entry["safetyRatings"] = candidate.ratings
            candidates.append(entry)
        if candidates:
            merged["candidates"] = candidates
        raw = RawResponse(status=200, headers=self.headers, body=b"", received_at=0.0)
        with _wire.response_errors(self.provider.name, 200, None):
            try:
                return _GenerateResponse(self.provider, raw, self.call, merged).result()
            except GenGuardError as error:  # a finished answer without an image is billed
                if error.billing is None:
                    error.billing = "billed"
                    error.usage = _usage(merged.get("usageMetadata"))
                raise


__all__ = ["MAX_CANDIDATES", "stream_gemini", "stream_url"]
