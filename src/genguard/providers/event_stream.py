"""An SSE response over the client's transport: opened, read and bounded, failures typed.

Providers build the request and decode events; this module owns the socket
side of a stream: it reports the response headers and every event to a
``StreamProgress`` (the caller's timers listen there), caps how much one event
and the whole stream may hold, and tells a stream that was cut inside an event
from one that lost its connection between events. Time limits are not kept
here: the caller's watchdog cancels a read that waits too long.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import aiohttp

from ..billing import mark_sent
from ..errors import IncompleteStream, MalformedStreamEvent, ProviderUnavailable
from ..model import Image
from .sse import SSEEvent, SSEParser
from .transport import HttpTransport, RawResponse

#: aiohttp's own read timeout stays off for streams: the caller's watchdog (on the
#: injected clock) owns every stream timeout.
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None)


class StreamProgress(Protocol):
    """What a streaming provider reports while it reads; the caller's timers live here.

    ``partial_images`` is how many partial images to ask for when the request's
    options do not say.
    """

    partial_images: int
    max_event_bytes: int

    def opened(self) -> None:
        """Response headers of a 2xx stream arrived."""

    def event(self) -> None:
        """One event arrived (any kind)."""

    def partial(self, index: int, image: Image) -> None:
        """A partial image arrived (``index`` as the provider numbered it)."""


class EventSource:
    """One open HTTP response that should be an event stream."""

    __slots__ = ("_progress", "_resp", "_transport", "events", "headers", "provider", "status")

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        transport: HttpTransport,
        progress: StreamProgress,
        provider: str,
    ) -> None:
        self._resp = resp
        self._transport = transport
        self._progress = progress
        self.provider = provider
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.headers.items()}
        #: Events read so far.
        self.events = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_event_stream(self) -> bool:
        kind = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return kind == "text/event-stream"

    async def read_body(self) -> RawResponse:
        """The whole (bounded) body, for an error status or a server that did not stream."""
        try:
            body = await self._transport._read_bounded(self._resp, self.provider)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as exc:
            raise ProviderUnavailable(
                f"{self.provider}: response body was cut off ({type(exc).__name__})",
                code="payload_error",
                status=self.status,
                provider=self.provider,
            ) from exc
        return RawResponse(
            status=self.status,
            headers=self.headers,
            body=body,
            received_at=asyncio.get_running_loop().time(),
            url=str(self._resp.url.with_query(None)),
        )

    async def read(self) -> AsyncGenerator[SSEEvent, None]:
        """The events as they arrive; raises ``IncompleteStream`` if the bytes stop mid-event."""
        progress = self._progress
        cap = self._transport.max_response_bytes
        parser = SSEParser(max_event_bytes=min(progress.max_event_bytes, cap))
        content = self._resp.content
        while True:
            try:
                chunk = await content.readany()
            except (
                aiohttp.ClientPayloadError,
                aiohttp.ClientConnectionError,
                asyncio.IncompleteReadError,
                OSError,
            ) as exc:
                raise self._incomplete(parser, lost=True) from exc
            if not chunk:
                events = parser.close()
            else:
                try:
                    events = parser.feed(chunk)
                except MalformedStreamEvent as exc:
                    exc.provider = self.provider
                    raise
            for event in events:
                self.events += 1
                progress.event()
                yield event
            if not chunk:
                if parser.in_event:
                    raise self._incomplete(parser, lost=False)
                return

    def _incomplete(self, parser: SSEParser, *, lost: bool) -> IncompleteStream:
        if parser.in_event:
            reason, what = "cut_mid_event", "was cut in the middle of an event"
        else:
            reason, what = "connection_lost", "lost its connection between events"
        del lost
        return IncompleteStream(
            f"{self.provider}: the stream {what} after {self.events} event(s)",
            reason=reason,
            provider=self.provider,
        )


@asynccontextmanager
async def open_event_stream(
    transport: HttpTransport,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes | aiohttp.FormData,
    provider: str,
    progress: StreamProgress,
) -> AsyncIterator[EventSource]:
    """POST ``body`` to ``url`` and hold the response open as an ``EventSource``.

    A connection that fails before the headers is ``ProviderUnavailable`` (as for
    any request); ``progress.opened()`` is called once 2xx headers arrive. Any
    failure after the request left is possibly billed unless its mapper says not.
    """
    session = transport.session
    if session is None or session.closed:
        session = await transport.open()
    mark_sent()
    try:
        resp = await session.post(
            url,
            headers=headers,
            data=body,
            timeout=_STREAM_TIMEOUT,
            proxy=transport.proxy_for(url),
        )
    except (aiohttp.ClientConnectionError, ConnectionError, OSError) as exc:
        failed = ProviderUnavailable(
            f"{provider}: connection failed ({type(exc).__name__})",
            code="connection_error",
            provider=provider,
        )
        if isinstance(exc, aiohttp.ClientConnectorError):  # refused: nothing went out
            failed.billing = "not_sent"
        raise failed from exc
    except aiohttp.ClientError as exc:
        raise ProviderUnavailable(
            f"{provider}: HTTP client error ({type(exc).__name__})",
            code="client_error",
            provider=provider,
        ) from exc
    try:
        source = EventSource(resp, transport, progress, provider)
        if source.ok:
            progress.opened()
        yield source
    finally:
        resp.close()  # a stream left early must not go back to the pool half-read


__all__ = ["EventSource", "StreamProgress", "open_event_stream"]
