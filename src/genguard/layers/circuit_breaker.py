"""Circuit breaker: stop hammering a failing backend, fail fast, probe carefully.

Per attempt and per partition key (``call.key``, ``provider/model`` by
default). The layer asks its ``BreakerStore`` for admission *before* the
attempt and reports the outcome *after* it; the store decides transitions
atomically. Nothing is held across the ``await`` of the attempt, so in
half-open at most ``half_open_probes`` attempts reach the backend however
many coroutines arrive at once, and a cancelled attempt is neither a failure
nor turned into another error: the cancellation propagates untouched.

Only signs of a sick backend count as failures: the error's ``breaker_failure``
fact, decided in ``genguard.errors`` (5xx, connection failures, attempt
timeouts). Content blocks, bad requests, auth and quota errors, the client's
own limiter and cancellations change nothing, so they can neither trip nor
close a breaker. ``count_rate_limited`` is the one per-deployment override: it
also counts a server ``RateLimited``.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import Field

from ..clock import Clock, SystemClock
from ..core import Handler, Scope
from ..errors import CircuitOpen, RateLimited, counts_against_breaker
from ..model import Call, GenerationResult
from ..options import Duration, Int, LayerOptions, Number
from ..state.breaker import (
    BreakerPolicy,
    BreakerSnapshot,
    BreakerStore,
    MemoryBreakerStore,
    Outcome,
    Permit,
    Transition,
)
from ..state.resource import AsyncResource

#: A caller refused while the half-open probes are out tries again after this share of
#: the base break (0.5 s by default): the probe's answer is usually that close.
HALF_OPEN_RECHECK = 0.1


class CircuitBreakerOptions(LayerOptions):
    layer_name: ClassVar[str] = "circuit_breaker"
    doc: ClassVar[str] = "Stops calling a failing provider/model for a while."

    fail_max: Int | None = Field(
        None, ge=1, description="Also open on this many consecutive failures (off if unset)."
    )
    reset_timeout: Duration = Field(
        5.0, gt=0, description="Time open before a probe; doubles per failed probe."
    )
    max_reset_timeout: Duration = Field(
        120.0, gt=0, description="Cap on the doubled break; back to `reset_timeout` on close."
    )
    half_open_probes: Int = Field(1, ge=1, description="Concurrent probes when half-open.")
    success_threshold: Int = Field(1, ge=1, description="Probe successes that close it.")
    failure_ratio: Number | None = Field(
        0.5, gt=0, le=1, description="Open at this failure share of `window`'s attempts."
    )
    window: Duration = Field(30.0, gt=0, description="Window for `failure_ratio`.")
    min_calls: Int = Field(20, ge=1, description="Calls in `window` before the ratio counts.")
    count_rate_limited: bool = Field(False, description="Count 429s as failures.")
    max_keys: Int = Field(10000, ge=1, description="Partitions tracked.")


class CircuitBreakerLayer(AsyncResource):
    """One breaker per partition key, state in a ``BreakerStore`` (memory by default).

    Trips when at least ``failure_ratio`` of the last ``window`` seconds' attempts
    failed, once there were ``min_calls`` of them; with ``fail_max`` set, also on
    that many consecutive failures. Stays open ``reset_timeout`` seconds, doubled
    after each failed probe up to ``max_reset_timeout``, then admits at most
    ``half_open_probes`` attempts at a time; ``success_threshold`` probe successes
    close it (and reset the break), one probe failure re-opens it. Refused
    attempts raise ``CircuitOpen(key, retry_at)`` with ``retry_at`` on the layer's
    clock. Every default is a production default; ``docs/circuit-breaker.md``
    says why each.
    """

    options_model: ClassVar[type[CircuitBreakerOptions]] = CircuitBreakerOptions

    scope: Scope = "attempt"

    def __init__(
        self,
        options: CircuitBreakerOptions | None = None,
        /,
        *,
        store: BreakerStore | None = None,
        clock: Clock | None = None,
        **fields: Any,
    ) -> None:
        """``CircuitBreakerLayer(CircuitBreakerOptions(...))`` or its fields as keywords."""
        self.options = options = CircuitBreakerOptions.of(options, fields, "circuit_breaker")
        self.policy = BreakerPolicy(
            fail_max=options.fail_max,
            reset_timeout=options.reset_timeout,
            half_open_probes=options.half_open_probes,
            success_threshold=options.success_threshold,
            failure_ratio=options.failure_ratio,
            window=options.window,
            min_calls=options.min_calls,
            max_reset_timeout=options.max_reset_timeout,
        )
        count_rate_limited = options.count_rate_limited
        max_keys = options.max_keys
        self.count_rate_limited = bool(count_rate_limited)
        self._owns_store = store is None
        self.store: BreakerStore = (
            store if store is not None else MemoryBreakerStore(max_keys=max_keys)
        )
        self.clock = clock
        self._reports: set[asyncio.Task[None]] = set()

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        clock = self.clock or call.clock
        key = call.key
        policy = self.policy
        admission = await self.store.acquire(key, policy, clock.now())
        if admission.transitions:
            self._announce(call, admission.transitions)
        permit = admission.permit
        if permit is None:
            now = clock.now()
            wait = admission.retry_after
            if admission.state == "open":
                detail = "open"
            else:
                detail = "half-open, probes in flight"
                wait = max(wait, HALF_OPEN_RECHECK * policy.reset_timeout)
            raise CircuitOpen(
                f"circuit for {key} is {detail}; retry in {wait:.3g}s",
                key=key,
                retry_at=now + wait,
            )
        try:
            result = await next(call)
        except asyncio.CancelledError:
            # Propagate at once; a probe slot is freed in the background.
            if permit.probe:
                self._report_later(call, permit)
            raise
        except BaseException as error:
            await self._record(call, permit, self.outcome(error))
            raise
        await self._record(call, permit, "success")
        return result

    def outcome(self, error: BaseException) -> Outcome:
        """What a failed attempt says about the backend: the error's ``breaker_failure``
        fact, or a server ``RateLimited`` when ``count_rate_limited`` is on."""
        if counts_against_breaker(error):
            return "failure"
        if self.count_rate_limited and isinstance(error, RateLimited) and error.scope == "server":
            return "failure"
        return "ignored"

    async def _record(self, call: Call, permit: Permit, outcome: Outcome) -> None:
        if outcome == "ignored" and not permit.probe:
            return  # nothing to change: skip the store round-trip
        clock = self.clock or call.clock
        try:
            transitions = await self.store.record(permit, outcome, self.policy, clock.now())
        except Exception as error:  # a shared store failing must not mask the attempt's outcome
            call.observer.backend_error("circuit_breaker", error, "outcome_dropped")
            return
        if transitions:
            self._announce(call, transitions)

    def _report_later(self, call: Call, permit: Permit) -> None:
        task = asyncio.get_running_loop().create_task(self._record(call, permit, "ignored"))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    @staticmethod
    def _announce(call: Call, transitions: tuple[Transition, ...]) -> None:
        observer = call.observer
        for t in transitions:
            observer.breaker_changed(call, t.key, t.old, t.new, t.reason)

    async def snapshot(self, key: str, *, clock: Clock | None = None) -> BreakerSnapshot:
        """The breaker state for ``key``, timed on ``clock`` (else the layer's, else the system's).

        Pass the clock the calls ran on when the layer has none of its own.
        """
        clock = clock or self.clock or SystemClock()
        return await self.store.snapshot(key, self.policy, clock.now())

    async def aclose(self) -> None:
        """Wait for background outcome reports, then close the store if this layer made it."""
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)
        if self._owns_store:
            await self.store.aclose()

    def __repr__(self) -> str:
        p = self.policy
        trips = [] if p.failure_ratio is None else [f"failure_ratio={p.failure_ratio:g}"]
        if p.failure_ratio is not None:
            trips += [f"window={p.window:g}", f"min_calls={p.min_calls}"]
        if p.fail_max is not None:
            trips.append(f"fail_max={p.fail_max}")
        return (
            f"CircuitBreakerLayer({', '.join(trips)}, reset_timeout={p.reset_timeout:g}, "
            f"max_reset_timeout={p.max_reset_timeout:g}, half_open_probes={p.half_open_probes})"
        )


__all__ = ["HALF_OPEN_RECHECK", "CircuitBreakerLayer", "CircuitBreakerOptions"]
