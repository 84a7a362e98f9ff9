"""Circuit breaker: stop hammering a failing backend, fail fast, probe carefully.

Per attempt and per partition key (``call.key``, ``provider/model`` by
default). The layer asks its ``BreakerStore`` for admission *before* the
attempt and reports the outcome *after* it; the store decides transitions
atomically. Nothing is held across the ``await`` of the attempt, so in
half-open at most ``half_open_probes`` attempts reach the backend however
many coroutines arrive at once, and a cancelled attempt is neither a failure
nor turned into another error: the cancellation propagates untouched.

Only signs of a sick backend count as failures (see ``classify``); content
blocks, bad requests, auth and quota errors, the client's own limiter and
cancellations change nothing, so they can neither trip nor close a breaker.
"""

from __future__ import annotations

import asyncio

from ..clock import Clock, SystemClock
from ..errors import (
    AttemptTimeout,
    CircuitOpen,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ResponseError,
)
from ..model import Call, GenerationResult
from ..pipeline import Handler, Scope
from ..state.breaker import (
    BreakerPolicy,
    BreakerSnapshot,
    BreakerStore,
    MemoryBreakerStore,
    Outcome,
    Permit,
    Transition,
)


def classify(error: BaseException | None, *, count_rate_limited: bool = False) -> Outcome:
    """What an attempt's outcome says about the backend's health.

    Failures: ``ProviderUnavailable``, ``AttemptTimeout``, any provider error or
    malformed response with a 5xx status, and raw connection errors. A server
    ``RateLimited`` is a failure only with ``count_rate_limited``; the client's
    own limiter (``scope="client"``) never is. Everything else (``ContentBlocked``,
    ``BadRequest``, ``AuthenticationError``, ``QuotaExhausted``,
    ``DeadlineExceeded``, cancellation, unknown exceptions) is ``ignored``.
    """
    if error is None:
        return "success"
    if isinstance(error, ProviderUnavailable | AttemptTimeout | ConnectionError):
        return "failure"
    if isinstance(error, RateLimited):
        return "failure" if count_rate_limited and error.scope == "server" else "ignored"
    if isinstance(error, ProviderError | ResponseError):
        status = error.status
        return "failure" if status is not None and 500 <= status <= 599 else "ignored"
    return "ignored"


class CircuitBreakerLayer:
    """One breaker per partition key, state in a ``BreakerStore`` (memory by default).

    Trips on ``fail_max`` consecutive failures, or, with ``failure_ratio`` set,
    when at least that share of the last ``window`` seconds' calls failed (once
    there were ``min_calls``). Stays open ``reset_timeout`` seconds, then admits
    at most ``half_open_probes`` attempts at a time; ``success_threshold``
    probe successes close it, one probe failure re-opens it. Refused attempts
    raise ``CircuitOpen(key, retry_at)`` with ``retry_at`` on the layer's clock.
    """

    scope: Scope = "attempt"

    def __init__(
        self,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        half_open_probes: int = 1,
        success_threshold: int = 1,
        failure_ratio: float | None = None,
        window: float = 60.0,
        min_calls: int = 20,
        count_rate_limited: bool = False,
        max_keys: int = 10_000,
        store: BreakerStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.policy = BreakerPolicy(
            fail_max=fail_max,
            reset_timeout=float(reset_timeout),
            half_open_probes=half_open_probes,
            success_threshold=success_threshold,
            failure_ratio=failure_ratio,
            window=float(window),
            min_calls=min_calls,
        )
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
            detail = "open" if admission.state == "open" else "half-open, probes in flight"
            raise CircuitOpen(
                f"circuit for {key} is {detail}; retry in {admission.retry_after:.3g}s",
                key=key,
                retry_at=now + admission.retry_after,
            )
        try:
            result = await next(call)
        except asyncio.CancelledError:
            # Propagate at once; a probe slot is freed in the background.
            if permit.probe:
                self._report_later(call, permit)
            raise
        except BaseException as error:
            await self._record(
                call, permit, classify(error, count_rate_limited=self.count_rate_limited)
            )
            raise
        await self._record(call, permit, "success")
        return result

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
        ratio = "" if p.failure_ratio is None else f", failure_ratio={p.failure_ratio:g}"
        return (
            f"CircuitBreakerLayer(fail_max={p.fail_max}, reset_timeout={p.reset_timeout:g}, "
            f"half_open_probes={p.half_open_probes}{ratio})"
        )


__all__ = ["CircuitBreakerLayer", "classify"]
