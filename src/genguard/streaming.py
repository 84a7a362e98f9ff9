"""Streaming: partial images as they arrive, timeouts that fit image generation, honest restarts.

``client.stream(request)`` runs the call through the same layers as
``generate`` (safety, rate limit, breaker, retry, telemetry apply once per
call, and each attempt is one HTTP stream). Only the terminal handler differs:
it reads the provider's event stream under four timers on the call's clock and
publishes what arrives to a per-call queue that the ``ImageStream`` iterator
reads. The layers never learn that a call streams, so every existing layer
works unchanged.

Retries are the retry layer's, with its billing rule: a stream that fails
after the request went out is possibly billed, so resubmitting it is capped by
the retry layer's ``ResubmitPolicy`` (default one resubmit, ``never()`` for
none). When the failed attempt had already delivered a partial image, the next
attempt starts the generation over: the consumer receives a ``Restarted`` event
before the new attempt's partials.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from pydantic import Field, ValidationError

from .clock import SystemClock
from .core import Handler, compose
from .errors import (
    ConfigErrors,
    DeadlineExceeded,
    GenGuardError,
    StreamError,
    StreamTimeout,
)
from .model import Call, GenerationRequest, GenerationResult, Image
from .options import Duration, Int, Options, Size, translate
from .providers.sse import DEFAULT_MAX_EVENT_BYTES

if TYPE_CHECKING:
    from .clock import Clock
    from .pipeline import Client

#: ``call.extras`` key of the per-call stream state (the timeout layer looks for it).
STREAM_KEY: Final = "stream.state"


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartialImage:
    """A draft of the image, shown while the generation runs.

    ``index`` is the provider's number for it within the attempt (0-based),
    ``elapsed`` the seconds since the call started (the call's clock).
    """

    image: Image
    index: int
    attempt: int
    elapsed: float


@dataclass(frozen=True, slots=True)
class Restarted:
    """The generation starts over as attempt ``attempt`` (a new, billed generation).

    ``reason`` is the error type that cut the previous attempt; its ``discarded``
    partial images belong to a generation that will not finish.
    """

    attempt: int
    reason: str
    discarded: int


@dataclass(frozen=True, slots=True)
class Completed:
    """The final result; always the last event of a stream that succeeded."""

    result: GenerationResult


StreamEvent = PartialImage | Restarted | Completed


# -- options ----------------------------------------------------------------------------------


class StreamOptions(Options):
    """How a stream is requested and how long it may stay quiet (seconds; None: no limit).

    The one home of these bounds: ``client.stream(settings=...)`` and a profile's
    ``stream`` section both read this model. ``partial_images`` may be billed by the
    provider as extra output (OpenAI ``partial_images``); Gemini sends its thought images.
    """

    doc: ClassVar[str] = (
        "Defaults of `client.stream` (see docs/streaming.md): its timers, and how many "
        "partial images to ask for. `null` turns a timer off."
    )

    connect: Duration | None = Field(10.0, gt=0, description="From the request to the headers.")
    first_event: Duration | None = Field(
        None, gt=0, description="From the request to the first event (a slow start)."
    )
    idle: Duration | None = Field(
        180.0,
        gt=0,
        description="Longest silence, from the headers and then from each event "
        "(a partial image resets it).",
    )
    total: Duration | None = Field(600.0, gt=0, description="The whole stream, however lively.")
    partial_images: Int = Field(2, ge=0, le=3, description="Partial images to ask for.")
    max_event_bytes: Size = Field(
        DEFAULT_MAX_EVENT_BYTES, ge=1, le=2**40, description="Largest event held in memory."
    )

    def __init__(self, **fields: Any) -> None:
        """A bad value is a ``ConfigError`` at ``stream.<name>``, not a pydantic error."""
        try:
            super().__init__(**fields)
        except ValidationError as exc:
            errors = translate(exc, type(self), "stream")
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors) from None


# -- timers -----------------------------------------------------------------------------------


class _Watchdog:
    """Cancels the attempt's task when the binding stream deadline passes on ``clock``.

    Re-armed at the headers and at each event; the earliest of the pending
    limits decides and names the ``phase`` reported in ``StreamTimeout``.
    """

    __slots__ = (
        "_clock",
        "_deadline_at",
        "_first_at",
        "_options",
        "_task",
        "_timer",
        "_total_at",
        "fired",
        "limit",
        "phase",
    )

    def __init__(
        self,
        clock: Clock,
        options: StreamOptions,
        task: asyncio.Task[Any],
        deadline: float | None = None,
    ) -> None:
        self._clock = clock
        self._options = options
        self._task = task
        self._timer: asyncio.Task[None] | asyncio.TimerHandle | None = None
        now = clock.now()
        self._total_at = math.inf if options.total is None else now + options.total
        #: The call's deadline (monotonic, on ``clock``): a stream never outlives its call.
        self._deadline_at = math.inf if deadline is None else deadline
        self._first_at = math.inf if options.first_event is None else now + options.first_event
        self.fired = False
        self.phase = "connect"
        self.limit = 0.0
        self._arm(now, (("connect", options.connect),), first=True)

    def opened(self) -> None:
        self._arm(self._clock.now(), (("idle", self._options.idle),), first=True)

    def event(self) -> None:
        self._arm(self._clock.now(), (("idle", self._options.idle),), first=False)

    def _arm(self, now: float, limits: tuple[tuple[str, float | None], ...], first: bool) -> None:
        options = self._options
        best = (self._total_at, "total", options.total)
        if self._deadline_at < best[0]:
            best = (self._deadline_at, "deadline", None)
        for phase, seconds in limits:
            if seconds is not None and now + seconds < best[0]:
                best = (now + seconds, phase, seconds)
        if first and self._first_at < best[0]:
            best = (self._first_at, "first_event", options.first_event)
        at, self.phase, limit = best
        self.limit = limit or 0.0
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        if at == math.inf:
            return
        loop = asyncio.get_running_loop()
        if isinstance(self._clock, SystemClock):  # the loop's own timer: no task per event
            self._timer = loop.call_later(at - now, self._fire)
        else:
            self._timer = loop.create_task(self._expire(at - now))

    async def _expire(self, delay: float) -> None:
        await self._clock.sleep(delay)
        self._fire()

    def _fire(self) -> None:
        self.fired = True
        self._task.cancel()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# -- per-call state ---------------------------------------------------------------------------

_END: Final = object()


class _CallStream:
    """What one streamed call shares between its attempts and its consumer."""

    __slots__ = (
        "__weakref__",
        "attempt_images",
        "error",
        "last_error",
        "options",
        "partials",
        "queue",
        "restarts",
        "result",
        "served",
    )

    def __init__(self, options: StreamOptions) -> None:
        self.options = options
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.partials: list[PartialImage] = []
        self.attempt_images: list[Image] = []
        self.restarts = 0
        self.last_error: BaseException | None = None
        self.result: GenerationResult | None = None
        self.error: BaseException | None = None
        #: Set when a streamed attempt produced the result.
        self.served = False

    def begin(self, call: Call) -> None:
        """Before an attempt: if the last one showed partials, tell the consumer this
        attempt starts the generation over."""
        if not self.attempt_images:
            return
        self.restarts += 1
        discarded = len(self.attempt_images)
        self.attempt_images = []
        error = self.last_error
        reason = type(error).__name__ if error is not None else "unknown"
        self.queue.put_nowait(Restarted(call.attempt, reason, discarded))
        call.observer.stream_restarted(call, reason, discarded)

    def partial(self, call: Call, index: int, image: Image) -> None:
        elapsed = call.clock.now() - call.started_at
        event = PartialImage(image, index, call.attempt, elapsed)
        self.partials.append(event)
        self.attempt_images.append(image)
        self.queue.put_nowait(event)
        call.observer.stream_partial(call, index, elapsed)

    def failed(self, error: GenGuardError, events: int) -> None:
        """Attach what the failed attempt delivered to its error."""
        if isinstance(error, StreamError):
            error.partials = tuple(self.attempt_images)
            error.events = events
        self.last_error = error


class _Progress:
    """The ``StreamProgress`` one attempt reports to: timers and the consumer's queue."""

    __slots__ = ("call", "dog", "events", "max_event_bytes", "partial_images", "state")

    def __init__(self, state: _CallStream, call: Call, dog: _Watchdog) -> None:
        self.state = state
        self.call = call
        self.dog = dog
        self.events = 0
        self.partial_images = state.options.partial_images
        self.max_event_bytes = state.options.max_event_bytes

    def opened(self) -> None:
        self.dog.opened()

    def event(self) -> None:
        self.events += 1
        self.dog.event()

    def partial(self, index: int, image: Image) -> None:
        self.state.partial(self.call, index, image)


def stream_terminal(client: Client) -> Handler:
    """The attempt handler of a streamed call: the provider's ``stream`` under the timers
    (``send`` for a provider that cannot stream: the result arrives as one event)."""
    provider = client.provider
    transport = client.transport
    stream = getattr(provider, "stream", None)

    async def terminal(call: Call) -> GenerationResult:
        state: _CallStream = call.extras[STREAM_KEY]
        state.begin(call)
        if stream is None:
            return await provider.send(call, transport)
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        dog = _Watchdog(call.clock, state.options, task, call.deadline)
        progress = _Progress(state, call, dog)
        try:
            result: GenerationResult = await stream(call, transport, progress)
        except asyncio.CancelledError as exc:
            if dog.fired and task.uncancel() <= cancelling:
                if dog.phase == "deadline":
                    late = DeadlineExceeded(
                        f"deadline reached during streamed attempt {call.attempt}",
                        attempts=call.attempt,
                    )
                    state.failed(late, progress.events)
                    raise late from exc
                timeout = StreamTimeout(
                    f"{call.provider}: stream {dog.phase} timeout ({dog.limit:g}s) "
                    f"in attempt {call.attempt}",
                    phase=dog.phase,
                    timeout=dog.limit,
                )
                state.failed(timeout, progress.events)
                raise timeout from exc
            raise
        except GenGuardError as error:
            state.failed(error, progress.events)
            raise
        finally:
            dog.stop()
        if dog.fired:  # the attempt swallowed the cancellation and finished anyway
            task.uncancel()
        state.served = True
        return result

    return terminal


# -- the consumer's side ----------------------------------------------------------------------


async def _run(client: Client, handler: Handler, call: Call, state: _CallStream) -> None:
    """The call, run as ``generate`` runs one, publishing its end to ``state.queue``."""
    try:
        result = await client.run(call, handler)
    except BaseException as error:
        state.error = error
        state.queue.put_nowait(_END)
        if isinstance(error, asyncio.CancelledError):
            raise
        return
    if not state.served and state.attempt_images:
        # Served by a stack that did not stream (a fallback target): the drafts shown
        # belong to a generation that did not finish.
        state.begin(call)
    state.result = result
    state.queue.put_nowait(Completed(result))
    state.queue.put_nowait(_END)


class ImageStream:
    """The events of one streamed call: ``PartialImage``, ``Restarted``, then ``Completed``.

    ``async with client.stream(request) as stream: async for event in stream: ...``
    A failed call raises its error from the iterator after the events that
    arrived. Leaving early (``break``, an exception, cancellation) cancels the
    call; so does dropping the stream. ``partials`` keeps every partial image
    delivered, ``result`` the final result once there is one.
    """

    __slots__ = ("__weakref__", "_client", "_done", "_state", "_task", "call")

    def __init__(self, client: Client, request: GenerationRequest, options: StreamOptions) -> None:
        self._client = client
        self._state = _CallStream(options)
        self._task: asyncio.Task[None] | None = None
        self._done = False
        #: The per-call context (generation id, attempts so far).
        self.call = client.new_call(request)
        self.call.extras[STREAM_KEY] = self._state

    @property
    def partials(self) -> tuple[PartialImage, ...]:
        return tuple(self._state.partials)

    @property
    def result(self) -> GenerationResult | None:
        return self._state.result

    @property
    def restarts(self) -> int:
        return self._state.restarts

    def _start(self) -> asyncio.Task[None]:
        task = self._task
        if task is None:
            client = self._client
            call = self.call  # the call starts now, not when the stream object was made
            now = client.clock.now()
            if call.deadline is not None:
                call.deadline += now - call.started_at
            call.started_at = now
            handler = compose(client.layers, stream_terminal(client))
            run = _run(client, handler, self.call, self._state)
            task = self._task = asyncio.get_running_loop().create_task(run)
            weakref.finalize(self, task.cancel)
        return task

    def __aiter__(self) -> ImageStream:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._done:
            raise StopAsyncIteration
        self._start()
        try:
            item = await self._state.queue.get()
        except asyncio.CancelledError:
            self._cancel()
            raise
        if item is _END:
            self._done = True
            error = self._state.error
            if error is not None and not isinstance(error, asyncio.CancelledError):
                raise error
            raise StopAsyncIteration
        assert isinstance(item, PartialImage | Restarted | Completed)
        return item

    async def final(self) -> GenerationResult:
        """Read the stream to its end and return the result (or raise the call's error)."""
        async for _ in self:
            pass
        result = self._state.result
        if result is None:
            error = self._state.error
            raise error if error is not None else asyncio.CancelledError()
        return result

    def _cancel(self) -> None:
        self._done = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        """Cancel the call if it is still running, and wait until it has let go of everything."""
        self._cancel()
        task = self._task
        if task is not None:
            await asyncio.wait({task})

    async def __aenter__(self) -> ImageStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "done" if self._done else "running" if self._task is not None else "not started"
        return (
            f"ImageStream(generation_id={self.call.generation_id!r}, {state}, "
            f"partials={len(self._state.partials)}, restarts={self._state.restarts})"
        )


__all__ = [
    "STREAM_KEY",
    "Completed",
    "ImageStream",
    "PartialImage",
    "Restarted",
    "StreamEvent",
    "StreamOptions",
    "stream_terminal",
]
