"""OpenAI Images with ``stream: true``: partial images as they arrive, then the result.

The request is the ordinary generations JSON (or edits form) plus ``stream`` and
``partial_images`` (0-3). Events are ``image_generation.partial_image`` and
``image_generation.completed`` (``image_edit.*`` for edits); the completed event
carries the image and ``usage``. An ``error`` event is mapped like an error
response of the same code. A server that ignores ``stream`` and answers with
plain JSON still yields its result.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import aiohttp

from ..errors import GenGuardError, IncompleteStream, InvalidRequest, MalformedStreamEvent
from ..model import Call, GenerationResult, Image
from ..safety.categories import OPENAI_BLOCK_CODES
from . import _wire
from .event_stream import StreamProgress, open_event_stream
from .openai import _MIME_BY_FORMAT, QUOTA_CODES, _usage, openai_error, rate_limit_info
from .sse import SSEEvent
from .transport import HttpTransport, RawResponse

if TYPE_CHECKING:
    from .openai import OpenAIProvider

#: OpenAI accepts 0..3 partial images per generated image.
MAX_PARTIAL_IMAGES = 3
_PARTIAL = frozenset({"image_generation.partial_image", "image_edit.partial_image"})
_COMPLETED = frozenset({"image_generation.completed", "image_edit.completed"})


def partial_images(call: Call, progress: StreamProgress) -> int:
    """``partial_images`` for this call: the request's option, else the stream's default."""
    value = call.request.options.get("partial_images", progress.partial_images)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 <= value <= MAX_PARTIAL_IMAGES
    ):
        raise InvalidRequest(
            f"openai: partial_images must be an integer 0..3, got {value!r}",
            field="options.partial_images",
            value=value,
        )
    return value


async def stream_openai(
    provider: OpenAIProvider, call: Call, transport: HttpTransport, progress: StreamProgress
) -> GenerationResult:
    """One streamed attempt: POST with ``stream: true``, report partials, return the result."""
    request = call.request
    model = call.model
    count = partial_images(call, progress)
    body: bytes | aiohttp.FormData
    if request.images:
        url = provider._edits_url
        form = provider.build_form(request, model)
        form.add_field("stream", "true")
        form.add_field("partial_images", str(count))
        body = form
        headers: dict[str, str] = provider._auth_headers
    else:
        url = provider._generations_url
        payload = provider.build_json(request, model)
        payload["stream"] = True
        payload["partial_images"] = count
        body = _wire.dumps(payload)
        headers = provider._json_headers
    if request.idempotency_key:
        headers = _wire.SecretHeaders({**headers, "idempotency-key": request.idempotency_key})
    key = provider._key.get()
    async with open_event_stream(
        transport, url, headers=headers, body=body, provider=provider.name, progress=progress
    ) as source:
        if not source.ok:
            raw = await source.read_body()
            raise openai_error(raw, api_key=key, now=call.clock.wall(), provider=provider.name)
        if not source.is_event_stream:  # a gateway that dropped ``stream``: plain JSON
            raw = await source.read_body()
            return await _plain(provider, call, transport, raw)
        reader = _Reader(provider, call, source.headers, progress)
        async with aclosing(source.read()) as events:
            async for event in events:
                reader.read(event)
        return reader.result()


async def _plain(
    provider: OpenAIProvider, call: Call, transport: HttpTransport, raw: RawResponse
) -> GenerationResult:
    parsed = provider.parse_images(raw)
    images = [
        item if isinstance(item, Image) else await provider._download(item, transport, raw, parsed)
        for item in parsed.items
    ]
    return GenerationResult(
        images=tuple(images),
        generation_id=call.generation_id,
        provider=provider.name,
        model=call.model,
        usage=parsed.usage,
        request_id=parsed.request_id,
        rate_limit=rate_limit_info(raw.headers),
        revised_prompt=parsed.revised_prompt,
    )


class _Reader:
    """Folds the events of one stream into partial reports and a final result."""

    __slots__ = (
        "call",
        "headers",
        "images",
        "partials",
        "progress",
        "provider",
        "request_id",
        "usage",
    )

    def __init__(
        self,
        provider: OpenAIProvider,
        call: Call,
        headers: dict[str, str],
        progress: StreamProgress,
    ) -> None:
        self.provider = provider
        self.call = call
        self.headers = headers
        self.progress = progress
        self.images: list[Image] = []
        self.partials = 0
        self.usage: object = None
        self.request_id = _wire.wire_token(headers.get("x-request-id"), provider._key.get())

    def _malformed(self, event: SSEEvent, what: str) -> MalformedStreamEvent:
        return MalformedStreamEvent(
            f"{self.provider.name}: stream event {event.event!r} {what}",
            event=event.event,
            provider=self.provider.name,
            request_id=self.request_id,
        )

    def read(self, event: SSEEvent) -> None:
        try:
            data = json.loads(event.data)
        except (ValueError, RecursionError):
            raise self._malformed(event, "is not valid JSON") from None
        if not isinstance(data, dict):
            raise self._malformed(event, f"should be an object, got {_wire.type_name(data)}")
        kind = event.event if event.event != "message" else _wire.lenient_str(data.get("type"))
        if kind == "error" or "error" in data:
            raise self._error(data)
        if kind in _PARTIAL:
            index = _wire.lenient_int(data.get("partial_image_index"))
            image = self._image(event, data)
            self.progress.partial(index if index is not None else self.partials, image)
            self.partials += 1
        elif kind in _COMPLETED:
            self.images.append(self._image(event, data))
            if data.get("usage") is not None:
                self.usage = data.get("usage")
        # other event types (future additions) carry nothing a result needs

    def _image(self, event: SSEEvent, data: dict[str, Any]) -> Image:
        try:
            raw = _wire.b64decode(data.get("b64_json"), "b64_json")
        except _wire.WireError as exc:
            raise self._malformed(event, str(exc)) from None
        fmt = _wire.lenient_str(data.get("output_format")) or self.provider.output_format or "png"
        return Image(raw, _MIME_BY_FORMAT.get(fmt, "image/png"))

    def _error(self, data: dict[str, Any]) -> GenGuardError:
        """An error event, mapped as the error response with the same code would be."""
        error = data.get("error")
        if not isinstance(error, dict):
            error = {k: data.get(k) for k in ("message", "code", "type", "param")}
        code = _wire.lenient_str(error.get("code")) or _wire.lenient_str(error.get("type"))
        if code in OPENAI_BLOCK_CODES:
            status = 400
        elif code in QUOTA_CODES or code == "rate_limit_exceeded":
            status = 429
        else:
            status = 500  # the server broke off a generation it had accepted
        raw = RawResponse(
            status=status,
            headers=self.headers,
            body=_wire.dumps({"error": error}),
            received_at=0.0,
        )
        return openai_error(
            raw,
            api_key=self.provider._key.get(),
            now=self.call.clock.wall(),
            provider=self.provider.name,
        )

    def result(self) -> GenerationResult:
        if not self.images:
            raise IncompleteStream(
                f"{self.provider.name}: the stream ended without a completed event",
                reason="ended_without_completed",
                provider=self.provider.name,
                request_id=self.request_id,
            )
        return GenerationResult(
            images=tuple(self.images),
            generation_id=self.call.generation_id,
            provider=self.provider.name,
            model=self.call.model,
            usage=_usage(self.usage, len(self.images)),
            request_id=self.request_id,
            rate_limit=rate_limit_info(self.headers),
        )


__all__ = ["MAX_PARTIAL_IMAGES", "partial_images", "stream_openai"]
