"""Client-side rate limit and concurrency cap, per partition key, adaptive to 429s.

Keeps a service inside its provider quota, learning the quota when it is not
told. Per attempt (retries pay for a permit too), in this order:

1. a key whose quota is spent (``QuotaExhausted`` for a per-day or billing
   quota) refuses at once, locally, until the quota resets;
2. the concurrency cap (bulkhead): at most ``concurrency`` attempts in flight
   per key, a FIFO wait queue of at most ``queue``, ``BulkheadFull`` beyond;
3. the rate: one booking in the ``LimiterBackend`` for every limit (1 request,
   ``n`` images, ``token_estimate`` tokens), FIFO whatever the weight, failing
   fast with ``RateLimited(scope="client")`` when the slot lies past the call's
   deadline. The request rate is learned (AIMD, see ``genguard.state.adaptive``):
   none until the server throttles, then cut on each throttle and raised on
   success; a configured ``requests`` rate is a ceiling adaptation only lowers;
4. the attempt. A server 429 is answered by the retry layer for that call
   alone. Only quota-shaped evidence (Gemini ``QuotaFailure`` naming a
   per-minute quota, OpenAI ``x-ratelimit-remaining-*: 0``, or 429s from many
   calls in a short window) pauses the key for every caller and cuts its rate.

The concurrency slot is taken first so a permit is never held by a caller that
cannot send: a caller admitted by the rate limiter sends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from ..clock import Clock
from ..core import Handler, Scope
from ..errors import (
    BulkheadFull,
    ConfigError,
    GenGuardError,
    QuotaExhausted,
    RateLimited,
)
from ..model import Call, GenerationResult, RateLimitInfo
from ..options import Duration, Int, LayerOptions, RateSpec
from ..options import Rate as RateOption
from ..options import parse_rate as parse_rate_spec
from ..state.adaptive import (
    AdaptiveRate,
    QuotaLedger,
    Spent,
    ThrottleWindow,
    seconds_to_pacific_midnight,
)
from ..state.limiter import (
    EPSILON,
    Demand,
    Limit,
    LimiterBackend,
    MemoryLimiterBackend,
    Reservation,
)
from ..state.resource import AsyncResource

KeyFunc = Callable[[Call], str]

#: Waiters per key beyond ``concurrency`` when ``queue`` is not given.
DEFAULT_QUEUE = 1000
#: Longest pause a server hint can impose on a key (an absurd Retry-After is clamped).
DEFAULT_MAX_PAUSE = 60.0
#: A learned rate that grew by more than this factor since callers planned their
#: turns wakes them to plan again (a cut needs no wake: they wake early and re-plan).
REPLAN_GROWTH = 1.1
#: A key with no learned rate yet learns one only when 429s are at least this share
#: of its recent answers: a quota-shaped 429 among mostly good answers (a provider
#: that refuses a few requests at random, with a per-minute quota id on each) is
#: answered by a pause alone, not by slowing the key down.
FIRST_CUT_SHARE = 0.25
#: How long a key refuses locally after a billing quota ran out (OpenAI
#: ``insufficient_quota``): long enough that a fleet stops sending, short enough that
#: a topped-up account is used again within minutes.
DEFAULT_QUOTA_COOLOFF = 300.0
#: A slot closer than this to the call's deadline is refused when booking: admitted
#: with no time left the attempt is useless, and a caller woken a little late would
#: then give up its slot mid-queue, leaving it unused.
DEADLINE_HEADROOM = 0.01

_UNIT_NAMES = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}
_KEY_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass(frozen=True, slots=True)
class Rate:
    """``amount`` units per ``per_seconds`` seconds: ``Rate(60, 60.0)`` is ``60/min``."""

    amount: float
    per_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not (_finite_number(self.amount) and self.amount > 0):
            raise ConfigError("rate", f"rate amount must be > 0, got {self.amount!r}")
        if not (_finite_number(self.per_seconds) and self.per_seconds > 0):
            raise ConfigError("rate", f"rate period must be > 0 seconds, got {self.per_seconds!r}")
        object.__setattr__(self, "amount", float(self.amount))
        object.__setattr__(self, "per_seconds", float(self.per_seconds))

    @property
    def per_second(self) -> float:
        return self.amount / self.per_seconds

    @classmethod
    def parse(cls, value: object, field: str = "rate") -> Rate:
        """A rate in the one grammar of ``genguard.options.parse_rate`` (``60/min``, ``5/s``,
        ``100/days``, ``10/30s``, a bare number per second, a ``Rate``, or anything with
        ``amount`` and ``per_seconds``/``per``).

        Raises ``ConfigError`` whose path is ``field`` for zero, negative or
        non-finite values, unknown units (``5/fortnight``) and anything unreadable.
        """
        if isinstance(value, Rate):
            return value
        try:
            spec = parse_rate_spec(value)
        except ValueError as exc:
            raise ConfigError(field, str(exc)) from None
        return cls(spec.amount, spec.per)

    def __str__(self) -> str:
        amount = _fmt(self.amount)
        unit = _UNIT_NAMES.get(self.per_seconds)
        return f"{amount}/{unit}" if unit else f"{amount}/{_fmt(self.per_seconds)}s"


def _finite_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def parse_rate(value: object, field: str = "rate") -> Rate:
    """``Rate.parse`` as a function."""
    return Rate.parse(value, field)


def key_function(spec: str | KeyFunc) -> KeyFunc:
    """Turn a key spec into a function of the call.

    A spec is ``/``-separated parts: ``provider``, ``model``, ``key`` (the
    client's ``call.key``) or any other word, read from the request's metadata
    as ``word=value`` (``-`` when absent). ``"provider/model"`` gives
    ``gemini/gemini-2.5-flash-image``; ``"tenant"`` gives ``tenant=acme``.
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("key", "must be a non-empty key spec such as provider/model or tenant")
    parts = [p.strip() for p in spec.split("/")]
    for part in parts:
        if not _KEY_PART.fullmatch(part):
            raise ConfigError("key", f"invalid key part {part!r} in {spec!r}")
    if parts == ["provider", "model"]:
        return _provider_model

    def read(call: Call) -> str:
        out = []
        for part in parts:
            if part == "provider":
                out.append(call.provider)
            elif part == "model":
                out.append(call.model)
            elif part == "key":
                out.append(call.key)
            else:
                out.append(f"{part}={call.request.metadata.get(part, '-')}")
        return "/".join(out)

    return read


def _provider_model(call: Call) -> str:
    return f"{call.provider}/{call.model}"


class _Gate:
    """A key's concurrency cap: attempts in flight and the FIFO queue of waiters."""

    __slots__ = ("active", "waiters")

    def __init__(self) -> None:
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class _Pace:
    """A key's learned-rate pacing: when it last sent, the FIFO line to send next, and
    the rate the waiting callers planned their turns with."""

    __slots__ = ("last", "line", "planned")

    def __init__(self) -> None:
        self.last = -math.inf
        self.line: list[object] = []
        self.planned = 0.0


class _Waiter:
    """A caller asleep on the clock for its turn; ``woken`` when the key's news (a spent
    quota, a faster rate) cut its sleep short."""

    __slots__ = ("cancelling", "task", "woken")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.cancelling = task.cancelling()
        self.woken = False


def _rate(spec: RateSpec | None) -> Rate | None:
    return None if spec is None else Rate(spec.amount, spec.per)


class RateLimitOptions(LayerOptions):
    layer_name: ClassVar[str] = "rate_limit"
    doc: ClassVar[str] = "Client-side quota: every attempt, retries included, takes a permit."

    requests: RateOption | None = Field(None, description="Requests per period, e.g. `60/min`.")
    images: RateOption | None = Field(
        None, description="Images per period (a request of n=4 takes 4)."
    )
    tokens: RateOption | None = Field(None, description="Estimated tokens per period.")
    burst: Int | None = Field(
        None, ge=1, description="Admissions allowed at once beyond the rate; none if unset."
    )
    concurrency: Int | None = Field(None, ge=1, description="Calls in flight per key.")
    queue: Int | None = Field(None, ge=0, description="Waiters beyond `concurrency`.")
    key: str = Field(
        "provider/model",
        min_length=1,
        description="Partition: `provider/model`, or a request metadata field (e.g. `tenant`).",
    )
    max_keys: Int = Field(10000, ge=1, description="Partitions kept (least recent evicted).")
    adapt: bool = Field(
        True, description="Learn the request rate from quota-shaped 429s (`requests` caps it)."
    )
    quota_cooloff: Duration = Field(
        DEFAULT_QUOTA_COOLOFF,
        gt=0,
        description="How long a key refuses after a billing quota ran out.",
    )
    max_pause: Duration = Field(
        DEFAULT_MAX_PAUSE, gt=0, description="Longest pause one server hint can put on a key."
    )

    @field_validator("key")
    @classmethod
    def _key_spec(cls, value: str) -> str:
        try:
            key_function(value)
        except ConfigError as exc:
            raise ValueError(exc.reason) from None
        return value

    @model_validator(mode="after")
    def _something_to_limit(self) -> RateLimitOptions:
        nothing = (self.requests, self.images, self.tokens, self.concurrency) == (None,) * 4
        if nothing and not self.adapt:
            raise ValueError("set at least one of requests, images, tokens, concurrency")
        if self.queue is not None and self.concurrency is None:
            raise ValueError("queue needs concurrency")
        return self


class RateLimitLayer(AsyncResource):
    """Rate limits and a concurrency cap per partition key (config key ``rate_limit``).

    ``requests``/``images``/``tokens`` are rates (``"60/min"`` or ``Rate``); an
    attempt takes 1 request, ``request.n`` images and ``request.token_estimate``
    tokens (none without an estimate). ``burst`` (requests or images admissible
    at once after idling) defaults to none: admissions are spaced evenly.
    ``concurrency`` caps attempts in flight per key, ``queue`` bounds its waiters
    (default ``DEFAULT_QUEUE``). ``key`` partitions (see ``key_function``).
    ``adapt`` (default on) learns the request rate from quota-shaped 429s;
    ``requests`` is then a ceiling. ``max_pause`` caps how long one server hint
    can hold a key; ``quota_cooloff`` is how long a key refuses after a billing
    quota ran out (a Gemini per-day quota refuses until midnight Pacific time).
    """

    options_model: ClassVar[type[RateLimitOptions]] = RateLimitOptions

    scope: Scope = "attempt"

    def __init__(
        self,
        options: RateLimitOptions | None = None,
        /,
        *,
        backend: LimiterBackend | None = None,
        clock: Clock | None = None,
        **fields: Any,
    ) -> None:
        """``RateLimitLayer(RateLimitOptions(...))`` or its fields as keywords (rates as
        ``"60/min"`` or ``Rate``); ``key`` may also be a function of the call."""
        key_func = fields.pop("key") if callable(fields.get("key")) else None
        self.options = options = RateLimitOptions.of(options, fields, "rate_limit")
        self.requests = _rate(options.requests)
        self.images = _rate(options.images)
        self.tokens = _rate(options.tokens)
        burst, concurrency, queue = options.burst, options.concurrency, options.queue
        key: str | KeyFunc = options.key if key_func is None else key_func
        max_keys, max_pause, adapt = options.max_keys, options.max_pause, options.adapt
        quota_cooloff = options.quota_cooloff
        self.burst = burst
        self.concurrency = concurrency
        self.queue = (DEFAULT_QUEUE if queue is None else queue) if concurrency else 0
        self.key = key
        self.max_keys = max_keys
        self.max_pause = float(max_pause)
        self.adapt = adapt
        self.quota_cooloff = float(quota_cooloff)
        self._key_of = key_function(key)
        self._backend = backend
        self._owns_backend = backend is None
        self._clock = clock
        self._gates: dict[str, _Gate] = {}
        self._capacity = float(burst or 1)
        self._request_limit = (
            None
            if self.requests is None
            else Limit("requests", self.requests.per_second, self._capacity)
        )
        self._image_limit = (
            None if self.images is None else Limit("images", self.images.per_second, self._capacity)
        )
        self._token_limit = (
            None if self.tokens is None else Limit("tokens", self.tokens.per_second, 1.0)
        )
        #: What an attempt takes when the request rate is the only limit (the usual
        #: configuration): the same tuple every time, built once.
        self._request_only: tuple[Demand, ...] | None = (
            (Demand(self._request_limit, 1.0),)
            if self._request_limit is not None
            and self._image_limit is None
            and self._token_limit is None
            else None
        )
        self._fixed_rates = (
            self.requests is not None or self.images is not None or (self.tokens is not None)
        )
        self._learned = AdaptiveRate(
            ceiling=None if self.requests is None else self.requests.per_second,
            max_keys=max_keys,
        )
        self._throttles = ThrottleWindow(max_keys=max_keys)
        self._ledger = QuotaLedger(max_keys=max_keys)
        self._paces: dict[str, _Pace] = {}
        self._waiting: dict[str, set[_Waiter]] = {}

    @property
    def backend(self) -> LimiterBackend | None:
        """The state backend (the memory one is created on first use, on the call's clock)."""
        return self._backend

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        key = self._key_of(call)
        clock = self._clock or call.clock
        spent = self._ledger.spent_on(key, clock)
        if spent is not None:
            raise _refused(key, spent, clock.now())
        if self.concurrency is None:
            return await self._limited(call, next, key, clock)
        await self._enter(call, key, clock)
        try:
            return await self._limited(call, next, key, clock)
        finally:
            self._leave(key)

    def learned_rate(self, key: str) -> float | None:
        """The request rate enforced on ``key`` now (learned or configured), per second."""
        if not self.adapt:
            return None if self.requests is None else self.requests.per_second
        return self._learned.rate(key)

    async def _limited(self, call: Call, next: Handler, key: str, clock: Clock) -> GenerationResult:
        demands = self.demands(call)
        waited = False
        if demands or self._backend is not None:  # a backend may hold a pause
            backend = self._backend_for(clock)
            waited = await self._admit(call, key, backend, clock, demands)
        if self.adapt and self._learned.learned(key) is not None:
            waited = await self._pace(call, key, clock) or waited
        spent = self._ledger.spent_on(key, clock)
        if spent is not None:  # spent while this caller waited its turn
            raise _refused(key, spent, clock.now())
        sent_at = clock.now()
        try:
            result = await next(call)
        except RateLimited as error:
            if error.scope == "server":
                await self._server_throttled(call, key, error, clock, sent_at)
            raise
        except QuotaExhausted as error:
            if not error.local:
                await self._quota_spent(call, key, error, clock)
            raise
        except GenGuardError as error:
            # the error's billing fact: refused before sending, or answered with an
            # error (a 4xx, a 5xx, a prompt block), so nothing was generated
            if demands and error.billing in ("not_sent", "rejected"):
                await _refund(self._backend_for(clock), key, demands)
            raise
        if self.adapt:
            answered = clock.now()
            self._throttles.add(key, answered, False)
            self._learned.succeeded(key, answered, waited)
            pace = self._paces.get(key)
            if pace is not None and pace.line:
                rate = self._learned.learned(key)
                if rate is None or rate > pace.planned * REPLAN_GROWTH:
                    self._wake(key)  # the line may go faster now: plan again
        info = result.rate_limit
        if info is not None:
            # The server measured the reset when the request arrived, not when the
            # (possibly 30 s later) image came back: count it from sending.
            elapsed = clock.now() - sent_at
            await self._pause_for_headers(call, key, info, "x-ratelimit-reset", elapsed)
        return result

    def _backend_for(self, clock: Clock) -> LimiterBackend:
        backend = self._backend
        if backend is None:
            backend = self._backend = MemoryLimiterBackend(clock=clock, max_keys=self.max_keys)
        return backend

    # -- the rate ---------------------------------------------------------------------------------
    def demands(self, call: Call) -> tuple[Demand, ...]:
        """What one attempt of ``call`` takes from each configured limit."""
        if self._request_only is not None:
            return self._request_only
        out: list[Demand] = []
        if self._request_limit is not None:
            out.append(Demand(self._request_limit, 1.0))
        if self._image_limit is not None:
            out.append(Demand(self._image_limit, float(call.request.n)))
        if self._token_limit is not None:
            out.append(Demand(self._token_limit, float(call.request.token_estimate or 0)))
        return tuple(out)

    async def _pace(self, call: Call, key: str, clock: Clock) -> bool:
        """Space this key's sends at its learned rate; True when that made it wait.

        Callers line up FIFO; each sleeps on the clock until its predicted turn
        (``position / rate`` after the last send), re-reading the rate at least
        time the rate grows by ``REPLAN_GROWTH`` or more (they are woken) and on
        every wake, so a rate that grows or is cut while callers wait takes
        effect at once (bookings made in advance at an old rate could not follow
        it). Only the head of the line may send. Waiting is one sleep on the
        call's clock per planned turn, never a lock or a poll.
        """
        pace = self._paces.get(key)
        if pace is None:
            if len(self._paces) >= self.max_keys:
                self._paces.pop(next(iter(self._paces)))
            pace = self._paces[key] = _Pace()
        token = object()
        line = pace.line
        line.append(token)
        started = clock.now()
        waited = False
        try:
            while True:
                rate = self._learned.learned(key)
                if rate is None:
                    break
                position = line.index(token)
                wait = pace.last + (position + 1) / rate - clock.now()
                if position == 0 and wait <= EPSILON:
                    break
                remaining = call.remaining()
                if remaining is not None and wait > remaining - DEADLINE_HEADROOM:
                    raise self._too_late(key, wait, "rate")
                waited = True
                # Not yet at the head although due: the head is about to go.
                step = wait if wait > EPSILON else 0.5 / rate
                pace.planned = rate
                await self._sleep(key, clock, step)
                spent = self._ledger.spent(key, clock.now())
                if spent is not None:
                    raise _refused(key, spent, clock.now())
        finally:
            line.remove(token)
        pace.last = clock.now()
        if waited:
            call.observer.limiter_waited(call, key, clock.now() - started, "learned-rate")
        return waited

    async def _admit(
        self,
        call: Call,
        key: str,
        backend: LimiterBackend,
        clock: Clock,
        demands: tuple[Demand, ...],
    ) -> bool:
        """Wait for this attempt's slot; True when the rate held it back at all."""
        remaining = call.remaining()
        max_wait = None if remaining is None else max(0.0, remaining - DEADLINE_HEADROOM)
        booking = await backend.reserve(key, demands, max_wait=max_wait)
        if not booking.granted:
            raise self._too_late(key, booking.wait, booking.reason)
        if booking.wait <= 0:
            return False
        reason: str = booking.reason
        started = clock.now()
        try:
            while booking.wait > 0:
                wake_at = clock.now() + booking.wait
                while True:  # one sleep, cut short only if the key's quota is spent
                    await self._sleep(key, clock, wake_at - clock.now())
                    spent = self._ledger.spent(key, clock.now())
                    if spent is not None:
                        raise _refused(key, spent, clock.now())
                    if clock.now() >= wake_at - EPSILON:
                        break
                booking = await backend.confirm(booking)
                if booking.wait <= 0:
                    break
                if booking.reason == "paused":
                    reason = "paused"
                remaining = call.remaining()
                if remaining is not None and booking.wait > remaining:
                    raise self._too_late(key, booking.wait, booking.reason)
        except BaseException:
            await backend.cancel(booking)
            call.observer.limiter_waited(call, key, clock.now() - started, reason)
            raise
        call.observer.limiter_waited(call, key, clock.now() - started, reason)
        return True

    async def _sleep(self, key: str, clock: Clock, seconds: float) -> bool:
        """Sleep ``seconds`` on ``clock``: one timer, one wake. False when ``_wake(key)``
        cut it short (the caller re-checks what changed); a cancellation from outside
        propagates as is."""
        task = asyncio.current_task()
        assert task is not None
        waiter = _Waiter(task)
        group = self._waiting.get(key)
        if group is None:
            group = self._waiting[key] = set()
        group.add(waiter)
        try:
            await clock.sleep(seconds)
        except asyncio.CancelledError:
            if waiter.woken and task.uncancel() <= waiter.cancelling:
                return False
            raise
        finally:
            group.discard(waiter)
            if not group and self._waiting.get(key) is group:
                del self._waiting[key]
        return True

    def _wake(self, key: str) -> None:
        """Cut short the sleep of every caller waiting on ``key``, so each re-checks."""
        for waiter in self._waiting.get(key, ()):
            if not waiter.woken:
                waiter.woken = True
                waiter.task.cancel()

    def _too_late(self, key: str, wait: float, reason: str) -> RateLimited | QuotaExhausted:
        if reason == "paused" and wait > self.max_pause:
            # Only a spent quota pauses a key longer than max_pause (possibly from
            # another replica sharing the backend): refuse as that, at once.
            return _refused(key, Spent(wait, "another replica found it spent"), 0.0)
        why = "the key is paused" if reason == "paused" else "the rate limit"
        return RateLimited(
            f"client rate limit on {key}: the next slot is {wait:.3f}s away ({why}), "
            "past the call's deadline",
            retry_after=wait,
            scope="client",
            status=None,
        )

    # -- what the server said -----------------------------------------------------------------
    async def _server_throttled(
        self, call: Call, key: str, error: RateLimited, clock: Clock, sent_at: float
    ) -> None:
        """A server 429: pause and slow the key only when it is quota-shaped."""
        now = clock.now()
        if self.adapt:
            self._throttles.add(key, now, True)
        evidence = _quota_evidence(error)
        if evidence is None and self.adapt:
            if self._throttles.storm(key):
                evidence = "429-storm"
            elif self._learned.learned(key) is not None:
                # Once the key was found rate-limited, a 429 while pacing at the
                # learned rate says that rate is too high.
                evidence = "429-at-learned-rate"
        if evidence is None:
            return  # a lone 429: the retry layer delays this call alone
        learning = self.adapt and (
            self._learned.learned(key) is not None
            or self._throttles.throttled_share(key) >= FIRST_CUT_SHARE
        )
        if learning:
            observed = self._throttles.sent_last_second(key, now)
            rate = self._learned.throttled(key, now, sent_at, observed)
            if rate is not None:
                call.observer.notice(
                    call, "rate_limit_learned", limiter_key=key, rate=rate, evidence=evidence
                )
        if error.retry_after is not None and error.retry_after > 0:
            await self._pause(call, key, error.retry_after, error.hint_source or "retry-after")
        elif error.rate_limit is not None:
            await self._pause_for_headers(call, key, error.rate_limit, "x-ratelimit-reset")

    async def _quota_spent(self, call: Call, key: str, error: QuotaExhausted, clock: Clock) -> None:
        """A per-day or billing quota ran out: refuse the key locally until it resets."""
        if any("perday" in q.replace("_", "").replace("-", "").lower() for q in error.quota_ids):
            seconds = seconds_to_pacific_midnight(clock.wall())
            why = "the per-day quota is spent (resets at midnight Pacific time)"
        else:
            seconds = self.quota_cooloff
            why = "the quota is spent"
        now = clock.now()
        self._ledger.spend(key, Spent(now + seconds, why, error.code, error.provider))
        self._wake(key)  # callers waiting for a slot on this key refuse now
        call.observer.notice(call, "quota_spent", limiter_key=key, seconds=seconds)
        backend = self._backend
        if backend is not None:  # a shared backend tells the rest of the fleet
            await backend.pause(key, seconds)

    async def _pause_for_headers(
        self, call: Call, key: str, info: RateLimitInfo, source: str, elapsed: float = 0.0
    ) -> None:
        seconds = 0.0
        if info.remaining_requests == 0 and info.reset_requests:
            seconds = info.reset_requests
        if info.remaining_tokens == 0 and info.reset_tokens:
            seconds = max(seconds, info.reset_tokens)
        seconds -= elapsed
        if seconds > 0:
            await self._pause(call, key, seconds, source)

    async def _pause(self, call: Call, key: str, seconds: float, source: str) -> None:
        if not math.isfinite(seconds):
            return
        if not (self._fixed_rates or self.adapt):
            return
        if seconds > self.max_pause:
            call.observer.notice(
                call,
                "rate_limit_pause_clamped",
                limiter_key=key,
                hint=seconds,
                max_pause=self.max_pause,
            )
            seconds = self.max_pause
        backend = self._backend_for(self._clock or call.clock)
        await backend.pause(key, seconds)
        call.observer.limiter_paused(call, key, seconds, source)

    # -- the concurrency cap ------------------------------------------------------------------
    async def _enter(self, call: Call, key: str, clock: Clock) -> None:
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate()
        assert self.concurrency is not None
        if gate.active < self.concurrency and not gate.waiters:
            gate.active += 1
            return
        if len(gate.waiters) >= self.queue:
            raise BulkheadFull(
                f"concurrency cap on {key}: {gate.active} in flight and "
                f"{len(gate.waiters)} waiting (queue {self.queue})",
                key=key,
            )
        remaining = call.remaining()
        if remaining is not None and remaining <= 0:
            raise BulkheadFull(
                f"concurrency cap on {key}: {gate.active} in flight and the deadline has passed",
                key=key,
            )
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        gate.waiters.append(turn)
        started = clock.now()
        timer: asyncio.Task[None] | None = None
        try:
            if remaining is None:
                await turn
            else:
                timer = loop.create_task(clock.sleep(remaining))
                await asyncio.wait((turn, timer), return_when=asyncio.FIRST_COMPLETED)
                if not turn.done():
                    raise BulkheadFull(
                        f"concurrency cap on {key}: no slot freed before the deadline "
                        f"({remaining:.3f}s)",
                        key=key,
                    )
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._leave(key)  # a slot was handed over just as this caller gave up
            else:
                turn.cancel()
                with contextlib.suppress(ValueError):
                    gate.waiters.remove(turn)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            call.observer.limiter_waited(call, key, clock.now() - started, "concurrency")

    def _leave(self, key: str) -> None:
        gate = self._gates[key]
        while gate.waiters:
            turn = gate.waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # hand the slot straight to the oldest waiter
                return
        gate.active -= 1
        if gate.active == 0:
            del self._gates[key]

    def in_flight(self, key: str) -> int:
        """Attempts holding a concurrency slot on ``key`` (0 without a cap)."""
        gate = self._gates.get(key)
        return 0 if gate is None else gate.active

    def waiting(self, key: str) -> int:
        """Callers queued for a concurrency slot on ``key``."""
        gate = self._gates.get(key)
        return 0 if gate is None else len(gate.waiters)

    async def aclose(self) -> None:
        if self._owns_backend and self._backend is not None:
            await self._backend.aclose()

    def __repr__(self) -> str:
        fields = [
            f"{name}={value}"
            for name, value in (
                ("requests", self.requests),
                ("images", self.images),
                ("tokens", self.tokens),
                ("burst", self.burst),
                ("concurrency", self.concurrency),
            )
            if value is not None
        ]
        if self.concurrency is not None:
            fields.append(f"queue={self.queue}")
        if isinstance(self.key, str):
            fields.append(f"key={self.key!r}")
        return f"RateLimitLayer({', '.join(fields)})"


def _quota_evidence(error: RateLimited) -> str | None:
    """Why a 429 says the key's quota (not luck) is the limit, or None."""
    for quota in error.quota_ids:
        if "perminute" in quota.replace("_", "").replace("-", "").lower():
            return "quota-per-minute"
    info = error.rate_limit
    if info is not None and (info.remaining_requests == 0 or info.remaining_tokens == 0):
        return "x-ratelimit-remaining"
    return None


def _refused(key: str, spent: Spent, now: float) -> QuotaExhausted:
    """The local refusal of a key whose quota is spent: nothing is sent."""
    left = max(0.0, spent.until - now)
    error = QuotaExhausted(
        f"quota for {key} is spent ({spent.why}); refusing locally for {left:.0f}s more",
        code=spent.code,
        retry_after=left,
        provider=spent.provider,
    )
    error.local = True
    return error


async def _refund(backend: LimiterBackend, key: str, demands: tuple[Demand, ...]) -> None:
    """A refused request generated nothing: give back its images and tokens (not the
    request itself, which the provider did receive). Backends without ``refund`` keep it."""
    refund = getattr(backend, "refund", None)
    given = tuple(d for d in demands if d.limit.name != "requests")
    if refund is not None and given:
        await refund(key, given)


__all__ = [
    "DEADLINE_HEADROOM",
    "DEFAULT_MAX_PAUSE",
    "DEFAULT_QUEUE",
    "DEFAULT_QUOTA_COOLOFF",
    "KeyFunc",
    "Rate",
    "RateLimitLayer",
    "RateLimitOptions",
    "Reservation",
    "key_function",
    "parse_rate",
]
