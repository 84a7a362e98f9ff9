"""Layers report what they do to an Observer; telemetry turns the reports into spans, metrics, logs.

Layers never import OpenTelemetry or structlog. ``Observer`` is the base class
with a no-op for every event, so an implementation overrides only what it
needs and a new event never breaks an old observer. ``RecordingObserver`` keeps
every event for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Call, GenerationResult


class Observer:
    """Receives every notable event of a call. The base class ignores them all, cheaply."""

    __slots__ = ()

    # -- the call -------------------------------------------------------------------------
    def call_started(self, call: Call) -> None:
        """The call entered the pipeline."""

    def call_finished(
        self, call: Call, result: GenerationResult | None, error: BaseException | None
    ) -> None:
        """The call left the pipeline with a result or an error (cancellation included)."""

    # -- attempts (announced by the pipeline's attempt boundary) ------------------------
    def attempt_started(self, call: Call) -> None:
        """Attempt ``call.attempt`` begins (1-based)."""

    def attempt_finished(self, call: Call, error: BaseException | None) -> None:
        """Attempt ``call.attempt`` ended; ``error`` is None on success."""

    # -- layer events -----------------------------------------------------------------------
    def retry_scheduled(
        self, call: Call, delay: float, reason: str, hint_source: str | None
    ) -> None:
        """Retry will sleep ``delay`` s; ``reason`` is the error type, ``hint_source`` the
        server hint that set the floor (``retry-after``, ``retry-after-ms``, ``retry-info``...)."""

    def retry_gave_up(self, call: Call, reason: str) -> None:
        """Retry stopped; ``reason``: ``attempts``, ``deadline``, ``budget``, ``hint_too_long``."""

    def limiter_waited(self, call: Call, key: str, seconds: float, reason: str) -> None:
        """A rate-limit or concurrency wait; ``reason``: ``rate``, ``paused``, ``concurrency``."""

    def limiter_paused(self, call: Call, key: str, seconds: float, source: str) -> None:
        """A server signal paused ``key`` for everyone for ``seconds``."""

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        """The breaker for ``key`` changed state (``closed``, ``open``, ``half_open``)."""

    def safety_verdict(
        self,
        call: Call,
        stage: str,
        allowed: bool,
        categories: dict[str, float],
        classifier: str,
        action: str,
    ) -> None:
        """A classifier judged input or output; ``action``: ``allow``, ``warn`` or ``block``."""

    def fallback_used(self, call: Call, from_key: str, to_key: str, reason: str) -> None:
        """The call was routed from one stack to the next."""

    def backend_error(self, component: str, error: BaseException, action: str) -> None:
        """Shared state (e.g. Redis) failed; ``action`` is what was done (``local``, ...)."""

    # -- streams ----------------------------------------------------------------------------
    def stream_partial(self, call: Call, index: int, elapsed: float) -> None:
        """A stream delivered partial image ``index`` of attempt ``call.attempt``,
        ``elapsed`` seconds after the call started."""

    def stream_restarted(self, call: Call, reason: str, discarded: int) -> None:
        """Attempt ``call.attempt`` starts the generation over (a new, billed generation)
        after ``reason`` cut the previous one; its ``discarded`` partials are stale."""

    def budget_remaining(
        self, call: Call, tenant: str, window: str, remaining: float, limit: float
    ) -> None:
        """What ``tenant`` has left of its ``window`` budget (after a reserve or settle)."""

    def notice(self, call: Call | None, event: str, **fields: Any) -> None:
        """Anything else worth one log line (e.g. a clamped, absurd Retry-After)."""

    # -- plumbing -----------------------------------------------------------------------------
    def reaches(self, observer: Observer) -> bool:
        """Whether an event given to this observer also reaches ``observer`` (it is this
        one, or one this one forwards to), so a sender can avoid reporting twice."""
        return self is observer


NOOP_OBSERVER = Observer()


@dataclass(slots=True)
class Event:
    name: str
    key: str | None
    fields: dict[str, Any]


@dataclass
class RecordingObserver(Observer):
    """Keeps every event in order, for tests: ``names()``, ``of("retry_scheduled")``."""

    events: list[Event] = field(default_factory=list)

    def _add(self, name: str, call: Call | None, **fields: Any) -> None:
        self.events.append(Event(name, call.key if call is not None else None, fields))

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e.fields for e in self.events if e.name == name]

    def call_started(self, call: Call) -> None:
        self._add("call_started", call, generation_id=call.generation_id)

    def call_finished(
        self, call: Call, result: GenerationResult | None, error: BaseException | None
    ) -> None:
        self._add("call_finished", call, result=result, error=error)

    def attempt_started(self, call: Call) -> None:
        self._add("attempt_started", call, attempt=call.attempt)

    def attempt_finished(self, call: Call, error: BaseException | None) -> None:
        self._add("attempt_finished", call, attempt=call.attempt, error=error)

    def retry_scheduled(
        self, call: Call, delay: float, reason: str, hint_source: str | None
    ) -> None:
        self._add(
            "retry_scheduled",
            call,
            attempt=call.attempt,
            delay=delay,
            reason=reason,
            hint_source=hint_source,
        )

    def retry_gave_up(self, call: Call, reason: str) -> None:
        self._add("retry_gave_up", call, reason=reason)

    def limiter_waited(self, call: Call, key: str, seconds: float, reason: str) -> None:
        self._add("limiter_waited", call, limiter_key=key, seconds=seconds, reason=reason)

    def limiter_paused(self, call: Call, key: str, seconds: float, source: str) -> None:
        self._add("limiter_paused", call, limiter_key=key, seconds=seconds, source=source)

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        self._add("breaker_changed", call, breaker_key=key, old=old, new=new, reason=reason)

    def safety_verdict(
        self,
        call: Call,
        stage: str,
        allowed: bool,
        categories: dict[str, float],
        classifier: str,
        action: str,
    ) -> None:
        self._add(
            "safety_verdict",
            call,
            stage=stage,
            allowed=allowed,
            categories=categories,
            classifier=classifier,
            action=action,
        )

    def fallback_used(self, call: Call, from_key: str, to_key: str, reason: str) -> None:
        self._add("fallback_used", call, from_key=from_key, to_key=to_key, reason=reason)

    def backend_error(self, component: str, error: BaseException, action: str) -> None:
        self._add("backend_error", None, component=component, error=error, action=action)

    def stream_partial(self, call: Call, index: int, elapsed: float) -> None:
        self._add("stream_partial", call, attempt=call.attempt, index=index, elapsed=elapsed)

    def stream_restarted(self, call: Call, reason: str, discarded: int) -> None:
        self._add(
            "stream_restarted", call, attempt=call.attempt, reason=reason, discarded=discarded
        )

    def budget_remaining(
        self, call: Call, tenant: str, window: str, remaining: float, limit: float
    ) -> None:
        self._add(
            "budget_remaining", call, tenant=tenant, window=window, remaining=remaining, limit=limit
        )

    def notice(self, call: Call | None, event: str, **fields: Any) -> None:
        self._add("notice", call, event=event, **fields)


class MultiObserver(Observer):
    """Fans every event out to several observers (e.g. telemetry plus a test recorder).

    The fan-out function of each event is made on its first use and kept, so an event
    costs one dict lookup and a loop, not a new closure per report.
    """

    __slots__ = ("_fan", "observers")

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers
        self._fan: dict[str, tuple[Any, Any]] = {}

    def reaches(self, observer: Observer) -> bool:
        return self is observer or any(o.reaches(observer) for o in self.observers)

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in ("observers", "reaches"):
            return object.__getattribute__(self, name)
        targets = object.__getattribute__(self, "observers")
        fan: dict[str, tuple[Any, Any]] = object.__getattribute__(self, "_fan")
        found = fan.get(name)
        if found is not None and found[0] is targets:
            return found[1]

        def fan_out(*args: Any, **kwargs: Any) -> None:
            for observer in targets:
                getattr(observer, name)(*args, **kwargs)

        fan[name] = (targets, fan_out)  # keyed on ``observers`` too: reassigning it is seen
        return fan_out


__all__ = ["NOOP_OBSERVER", "Event", "MultiObserver", "Observer", "RecordingObserver"]
