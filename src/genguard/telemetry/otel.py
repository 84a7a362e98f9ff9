"""The observer that turns a call's events into OpenTelemetry spans and metrics and structlog lines.

One ``CallTelemetry`` lives for one call. The telemetry layer installs it as
``call.observer`` (it forwards every event to the observer it replaced), so
layers keep reporting to ``call.observer`` and never learn that OpenTelemetry
exists. Spans are the expensive part (tens of microseconds each with the SDK):
there is one per call and one per attempt; everything else (retries, waits,
breaker transitions, verdicts) is a span *event* on the span it explains.
"""

from __future__ import annotations

import asyncio
import logging as std_logging
import threading
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import errors
from ..observe import Observer
from . import semconv as sc
from .privacy import error_message, flat_fields, prompt_digest, scrub

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

    from ..model import Call, GenerationResult


class Logger(Protocol):
    """The part of a structlog logger telemetry uses (any ``FilteringBoundLogger`` fits)."""

    def debug(self, event: str, **kw: Any) -> Any: ...

    def info(self, event: str, **kw: Any) -> Any: ...

    def warning(self, event: str, **kw: Any) -> Any: ...

    def error(self, event: str, **kw: Any) -> Any: ...


# -- outcomes ---------------------------------------------------------------------------

#: Every label ``outcome_of`` can give: the error tree's own (``errors.OUTCOMES``,
#: ``error`` included) plus success and cancellation.
OUTCOMES: tuple[str, ...] = ("success", "cancelled", *errors.OUTCOMES)
_ERROR_OUTCOMES = frozenset(errors.OUTCOMES)


def outcome_of(error: BaseException | None) -> str:
    """A low-cardinality label for how a call or attempt ended (one of ``OUTCOMES``):
    the error's own ``outcome`` fact; ``error`` for anything outside the tree, and
    for a label an application's subclass made up (the label set stays bounded)."""
    if error is None:
        return "success"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, errors.GenGuardError) and error.outcome in _ERROR_OUTCOMES:
        return error.outcome
    return "error"


def error_type(error: BaseException) -> str:
    """``error.type``: the exception's class name (``cancelled`` for cancellation)."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return type(error).__name__


def provider_name(provider: str) -> str:
    """genguard's provider id as the ``gen_ai.provider.name`` well-known value."""
    return sc.PROVIDER_NAMES.get(provider, provider)


def _result_attributes(attributes: dict[str, AttributeValue], result: GenerationResult) -> None:
    attributes[sc.GEN_AI_RESPONSE_MODEL] = result.model
    attributes[sc.IMAGES] = len(result.images)
    if result.request_id:
        attributes[sc.GEN_AI_RESPONSE_ID] = result.request_id
    if result.finish_reason:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (result.finish_reason,)
    usage = result.usage
    if usage.input_tokens is not None:
        attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
    if usage.output_tokens is not None:
        attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens


# -- instruments --------------------------------------------------------------------------


#: Series kept per counter before further label sets fold into one overflow series
#: (the SDK's own default cardinality limit).
MAX_SERIES = 2000
_OVERFLOW: tuple[str, ...] = ("__overflow__",)
_OVERFLOW_ATTRIBUTES: dict[str, AttributeValue] = {"otel.metric.overflow": True}


class Counts:
    """A counter kept in a dict and reported through an observable instrument.

    A synchronous SDK counter cleans and hashes its attributes on every ``add``
    (several microseconds); counting here is a dict update, and the SDK sees the
    totals only when a reader collects. ``add`` serves counters and up-down
    counters, ``set`` gauges. Label tuples follow ``keys``.
    """

    __slots__ = ("keys", "values")

    def __init__(self, *keys: str) -> None:
        self.keys = keys
        self.values: dict[tuple[str, ...], float] = {}

    def _slot(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        if labels in self.values or len(self.values) < MAX_SERIES:
            return labels
        return _OVERFLOW

    def add(self, labels: tuple[str, ...], amount: float = 1) -> None:
        values = self.values
        current = values.get(labels)
        if current is None:
            labels = self._slot(labels)
            current = values.get(labels, 0)
        values[labels] = current + amount

    def set(self, labels: tuple[str, ...], value: float) -> None:
        self.values[self._slot(labels)] = value

    def observe(self, options: CallbackOptions) -> list[Observation]:
        """The instrument callback; runs on the reader's thread, so it iterates a copy."""
        keys = self.keys
        observations = []
        for labels, value in list(self.values.items()):
            if labels is _OVERFLOW:
                observations.append(Observation(value, _OVERFLOW_ATTRIBUTES))
            else:
                observations.append(Observation(value, dict(zip(keys, labels, strict=True))))
        return observations


_BASE = (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL)


class Instruments:
    """Every metric genguard records, once per meter provider (see ``for_provider``).

    Histograms are SDK instruments (their buckets need the SDK); counts and
    gauges are ``Counts`` behind observable instruments. Names: ``semconv``.
    """

    __slots__ = (
        "__weakref__",
        "active",
        "attempts",
        "backend_errors",
        "billed_attempts",
        "breaker_state",
        "breaker_transitions",
        "budget_remaining",
        "calls",
        "cost",
        "cost_possible",
        "duration",
        "fallbacks",
        "images",
        "limiter_pauses",
        "limiter_wait",
        "possibly_billed_duplicates",
        "retries",
        "retry_gave_up",
        "safety_blocks",
        "safety_verdicts",
        "stream_first_partial",
        "stream_partials",
        "stream_restarts",
        "tokens",
    )

    _cache: ClassVar[weakref.WeakKeyDictionary[MeterProvider, Instruments]] = (
        weakref.WeakKeyDictionary()
    )
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def for_provider(cls, provider: MeterProvider, version: str = "") -> Instruments:
        """The provider's instruments, created on first use and shared by every layer.

        An SDK meter registers an instrument name once and ignores the callbacks of a
        second registration, so two layers on one provider must share one set.
        """
        with cls._lock:
            try:
                found = cls._cache.get(provider)
            except TypeError:  # not weak-referenceable: no sharing possible
                return cls(provider.get_meter("genguard", version))
            if found is None:
                found = cls._cache[provider] = cls(provider.get_meter("genguard", version))
            return found

    def __init__(self, meter: Meter) -> None:
        self.duration = meter.create_histogram(
            sc.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration (whole call, retries and waits included).",
            explicit_bucket_boundaries_advisory=sc.OPERATION_DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            sc.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Tokens used per call, by gen_ai.token.type.",
            explicit_bucket_boundaries_advisory=sc.TOKEN_USAGE_BUCKETS,
        )
        self.limiter_wait = meter.create_histogram(
            sc.METRIC_LIMITER_WAIT,
            unit="s",
            description="Time spent waiting for a rate-limit or concurrency permit.",
            explicit_bucket_boundaries_advisory=sc.LIMITER_WAIT_BUCKETS,
        )

        def counter(name: str, unit: str, description: str, *keys: str) -> Counts:
            counts = Counts(*keys)
            meter.create_observable_counter(name, [counts.observe], unit, description)
            return counts

        self.calls = counter(sc.METRIC_CALLS, "{call}", "Calls by outcome.", *_BASE, sc.OUTCOME)
        self.active = Counts(*_BASE)
        meter.create_observable_up_down_counter(
            sc.METRIC_CALLS_ACTIVE, [self.active.observe], "{call}", "Calls in flight."
        )
        self.attempts = counter(
            sc.METRIC_ATTEMPTS, "{attempt}", "Attempts by outcome.", *_BASE, sc.OUTCOME
        )
        self.retries = counter(
            sc.METRIC_RETRIES,
            "{retry}",
            "Retries scheduled, by reason and server hint.",
            *_BASE,
            sc.RETRY_REASON,
            sc.RETRY_HINT_SOURCE,
        )
        self.retry_gave_up = counter(
            sc.METRIC_RETRY_GAVE_UP,
            "{call}",
            "Calls retry gave up on, by reason.",
            *_BASE,
            sc.RETRY_REASON,
        )
        self.limiter_pauses = counter(
            sc.METRIC_LIMITER_PAUSES,
            "{pause}",
            "Server-signalled pauses of a key.",
            *_BASE,
            sc.LIMITER_KEY,
            sc.LIMITER_SOURCE,
        )
        self.breaker_state = Counts(sc.BREAKER_KEY)
        meter.create_observable_gauge(
            sc.METRIC_BREAKER_STATE,
            [self.breaker_state.observe],
            "",
            "Circuit breaker state per key: 0 closed, 1 half-open, 2 open.",
        )
        self.breaker_transitions = counter(
            sc.METRIC_BREAKER_TRANSITIONS,
            "{transition}",
            "Breaker transitions, by the state left and entered.",
            sc.BREAKER_KEY,
            sc.BREAKER_FROM,
            sc.BREAKER_TO,
        )
        self.safety_verdicts = counter(
            sc.METRIC_SAFETY_VERDICTS,
            "{verdict}",
            "Safety verdicts by stage, action and classifier.",
            *_BASE,
            sc.SAFETY_STAGE,
            sc.SAFETY_ACTION,
            sc.SAFETY_CLASSIFIER,
        )
        self.safety_blocks = counter(
            sc.METRIC_SAFETY_BLOCKS,
            "{block}",
            "Blocks by stage, category and source.",
            *_BASE,
            sc.SAFETY_STAGE,
            sc.SAFETY_CATEGORY,
            sc.SAFETY_SOURCE,
        )
        self.fallbacks = counter(
            sc.METRIC_FALLBACKS,
            "{fallback}",
            "Calls routed to a fallback stack.",
            sc.FALLBACK_FROM,
            sc.FALLBACK_TO,
            sc.FALLBACK_REASON,
        )
        self.backend_errors = counter(
            sc.METRIC_BACKEND_ERRORS,
            "{error}",
            "Shared-state backend failures.",
            sc.BACKEND_COMPONENT,
            sc.BACKEND_ACTION,
        )
        self.images = counter(sc.METRIC_IMAGES, "{image}", "Images returned to callers.", *_BASE)
        self.stream_first_partial = meter.create_histogram(
            sc.METRIC_STREAM_FIRST_PARTIAL,
            unit="s",
            description="Time from the start of a streamed call to its first partial image.",
            explicit_bucket_boundaries_advisory=sc.OPERATION_DURATION_BUCKETS,
        )
        self.stream_partials = counter(
            sc.METRIC_STREAM_PARTIALS, "{image}", "Partial images streamed to callers.", *_BASE
        )
        self.stream_restarts = counter(
            sc.METRIC_STREAM_RESTARTS,
            "{restart}",
            "Streamed generations started over after a partial image, by reason.",
            *_BASE,
            sc.STREAM_RESTART_REASON,
        )
        self.cost = counter(
            sc.METRIC_COST,
            "{currency}",
            "Settled cost of calls (billed attempts, priced from usage), by tenant and outcome.",
            *_BASE,
            sc.TENANT,
            sc.OUTCOME,
            sc.COST_CURRENCY,
        )
        self.cost_possible = counter(
            sc.METRIC_COST_POSSIBLY_BILLED,
            "{currency}",
            "Possibly-billed cost: attempts sent whose answer was lost, priced from the estimate.",
            *_BASE,
            sc.TENANT,
            sc.OUTCOME,
            sc.COST_CURRENCY,
        )
        self.billed_attempts = counter(
            sc.METRIC_BILLED_ATTEMPTS,
            "{attempt}",
            "Attempts by billing status (not_sent, rejected, uncertain, billed).",
            *_BASE,
            sc.BILLING_STATUS,
        )
        self.possibly_billed_duplicates = counter(
            sc.METRIC_POSSIBLY_BILLED_DUPLICATES,
            "{attempt}",
            "Resubmissions after an attempt that may have been billed.",
            *_BASE,
            sc.TENANT,
        )
        self.budget_remaining = Counts(sc.TENANT, sc.BUDGET_WINDOW)
        meter.create_observable_gauge(
            sc.METRIC_BUDGET_REMAINING,
            [self.budget_remaining.observe],
            "{currency}",
            "Budget left per tenant and window, as of the tenant's last call.",
        )


# -- labels built once per (provider, model) --------------------------------------------------

#: Entries a ``LabelCache`` keeps before starting over (models are few; a bound all the same).
MAX_LABEL_SETS = 256


class CallLabels:
    """The metric labels and attribute dicts of one (provider, model), built once and shared
    by every call to it, so a call builds no label tuple or attribute dict of its own.

    The dicts are handed to the SDK as they are and must never be mutated.
    """

    __slots__ = (
        "_errors",
        "_outcomes",
        "attrs",
        "labels",
        "span_attrs",
        "span_name",
        "tokens_input",
        "tokens_output",
    )

    def __init__(self, provider: str, model: str) -> None:
        name = provider_name(provider)
        #: The base metric labels, as a tuple for ``Counts`` and a dict for histograms.
        self.labels: tuple[str, ...] = (sc.OPERATION_GENERATE_CONTENT, name, model)
        self.attrs: dict[str, AttributeValue] = {
            sc.GEN_AI_OPERATION_NAME: sc.OPERATION_GENERATE_CONTENT,
            sc.GEN_AI_PROVIDER_NAME: name,
            sc.GEN_AI_REQUEST_MODEL: model,
        }
        #: The call span's name: ``{gen_ai.operation.name} {gen_ai.request.model}``.
        self.span_name = f"{sc.OPERATION_GENERATE_CONTENT} {model}"
        #: What every call span starts with (per-call attributes are added to a copy).
        self.span_attrs: dict[str, AttributeValue] = {
            **self.attrs,
            sc.GEN_AI_OUTPUT_TYPE: sc.OUTPUT_TYPE_IMAGE,
        }
        self.tokens_input: dict[str, AttributeValue] = {
            **self.attrs,
            sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT,
        }
        self.tokens_output: dict[str, AttributeValue] = {
            **self.attrs,
            sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT,
        }
        self._outcomes: dict[str, tuple[str, ...]] = {}
        self._errors: dict[str, dict[str, AttributeValue]] = {}

    def with_outcome(self, outcome: str) -> tuple[str, ...]:
        """``labels`` plus ``outcome`` (a bounded set: ``OUTCOMES``)."""
        found = self._outcomes.get(outcome)
        if found is None:
            found = (*self.labels, outcome)
            if len(self._outcomes) < len(OUTCOMES):
                self._outcomes[outcome] = found
        return found

    def with_error(self, error: BaseException) -> dict[str, AttributeValue]:
        """``attrs`` plus ``error.type`` (kept for the first few error classes seen)."""
        kind = error_type(error)
        found = self._errors.get(kind)
        if found is None:
            found = {**self.attrs, sc.ERROR_TYPE: kind}
            if len(self._errors) < 64:
                self._errors[kind] = found
        return found


class LabelCache:
    """``CallLabels`` per (provider, model), held by one telemetry layer (no global state)."""

    __slots__ = ("_found",)

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], CallLabels] = {}

    def get(self, provider: str, model: str) -> CallLabels:
        found = self._found.get((provider, model))
        if found is None:
            if len(self._found) >= MAX_LABEL_SETS:
                self._found.clear()
            found = self._found[provider, model] = CallLabels(provider, model)
        return found


def level_check(log: object) -> Callable[[int], bool] | None:
    """``log``'s own ``is_enabled_for`` (structlog's filtering loggers, genguard's stdlib
    logger), or None when it has none of its own: a lazy proxy answers with a logger bound
    for the occasion, whose answer may be stale once the application reconfigures."""
    check = getattr(log, "is_enabled_for", None)
    if check is None or getattr(check, "__self__", None) is not log:
        return None
    return cast("Callable[[int], bool]", check)


_INFO = std_logging.INFO
_WARNING = std_logging.WARNING
_LEVELS: dict[str, int] = {
    "debug": std_logging.DEBUG,
    "info": std_logging.INFO,
    "warning": std_logging.WARNING,
    "error": std_logging.ERROR,
}


def _by_score(item: tuple[str, float]) -> float:
    """Sort key: highest score first."""
    return -item[1]


# -- the per-call observer ------------------------------------------------------------------


class CallTelemetry(Observer):
    """Records one call; forwards every event to ``previous`` first.

    ``tracer``, ``instruments`` and ``log`` may each be None (that signal is off),
    so the disabled paths cost one attribute test each. ``labels`` are the call's
    shared ``CallLabels`` (built here when not given). A log line whose level the
    logger filters out (``is_enabled_for``, as structlog's filtering loggers and
    genguard's stdlib logger have) is not built at all.
    """

    __slots__ = (
        "_attempt_span",
        "_attempt_token",
        "_classifier_blocked",
        "_ctx",
        "_digest",
        "_first_partial",
        "_log_enabled",
        "_partials",
        "_restarts",
        "_started",
        "_token",
        "call",
        "instruments",
        "key",
        "log",
        "log_prompts",
        "names",
        "previous",
        "span",
        "tracer",
    )

    def __init__(
        self,
        call: Call,
        previous: Observer,
        tracer: Tracer | None,
        instruments: Instruments | None,
        log: Logger | None,
        log_prompts: bool = False,
        *,
        labels: CallLabels | None = None,
        log_check: Callable[[int], bool] | None = None,
    ) -> None:
        self.call = call
        self.key = call.key
        self.previous = previous
        self.tracer = tracer
        self.instruments = instruments
        self.log = log
        self._log_enabled: Callable[[int], bool] | None = (
            log_check if log_check is not None or log is None else level_check(log)
        )
        self.log_prompts = log_prompts
        self.span: Span | None = None
        self._ctx: Context | None = None
        self._token: Token[Context] | None = None
        self._attempt_span: Span | None = None
        self._attempt_token: Token[Context] | None = None
        self._classifier_blocked = False
        self._started = 0.0
        self._first_partial: float | None = None
        self._partials = 0
        self._restarts = 0
        self._digest: str | None = None
        self.names = labels if labels is not None else CallLabels(call.provider, call.model)

    @property
    def labels(self) -> tuple[str, ...]:
        """The base metric labels: operation, provider name, model."""
        return self.names.labels

    @property
    def attrs(self) -> dict[str, AttributeValue]:
        """The base metric labels as attributes (shared: never mutate)."""
        return self.names.attrs

    @property
    def trace_id(self) -> str | None:
        """The call's trace id in hex, None without a recording span."""
        span = self.span
        if span is None:
            return None
        ctx = span.get_span_context()
        return format(ctx.trace_id, "032x") if ctx.is_valid else None

    def reaches(self, observer: Observer) -> bool:
        return self is observer or self.previous.reaches(observer)

    @property
    def tenant(self) -> str:
        """Who pays: the budget layer's tenant, else request metadata ``tenant``."""
        call = self.call
        found = call.extras.get("budget.tenant") or call.request.metadata.get("tenant")
        return found[:64] if isinstance(found, str) else ""

    def _prompt_digest(self) -> str:
        """The prompt's SHA-256, computed once per call (span attribute and log line)."""
        digest = self._digest
        if digest is None:
            digest = self._digest = prompt_digest(self.call.request.prompt)
        return digest

    def _logs_at(self, level: int) -> bool:
        """Whether a line at ``level`` would be kept (True when the logger cannot tell)."""
        if self.log is None:
            return False
        enabled = self._log_enabled
        return enabled is None or bool(enabled(level))

    # -- lifecycle (driven by the telemetry layer) --------------------------------------
    def start(self) -> None:
        """Open the call span, make it current, count the call in flight."""
        call = self.call
        self._started = call.clock.now()
        if self.tracer is not None:
            request = call.request
            attributes: dict[str, AttributeValue] = {
                **self.names.span_attrs,
                sc.GENERATION_ID: call.generation_id,
                sc.PARTITION_KEY: call.key,
                sc.PROMPT_LENGTH: len(request.prompt),
                sc.PROMPT_SHA256: self._prompt_digest(),
            }
            if request.n != 1:  # the convention: set when not 1
                attributes[sc.GEN_AI_REQUEST_CHOICE_COUNT] = request.n
            if request.seed is not None:
                attributes[sc.GEN_AI_REQUEST_SEED] = request.seed
            span = self.tracer.start_span(
                self.names.span_name,
                kind=SpanKind.CLIENT,
                attributes=attributes,
            )
            self.span = span
            # One context for both uses: current during the call, parent of every attempt.
            self._ctx = ctx = trace.set_span_in_context(span)
            self._token = otel_context.attach(ctx)
        if self.instruments is not None:
            self.instruments.active.add(self.names.labels, 1)

    def finish(self, result: GenerationResult | None, error: BaseException | None) -> None:
        """Close the call: span attributes and status, metrics, one log line."""
        call = self.call
        if self._attempt_span is not None:  # an attempt the boundary never closed
            self._end_attempt(error)
        duration = call.clock.now() - self._started
        outcome = outcome_of(error)
        attempts = call.attempt
        span = self.span
        ledger = call.billing
        cost = ledger.cost() if ledger.charges else None
        if span is not None:
            if span.is_recording():
                attributes: dict[str, AttributeValue] = {sc.OUTCOME: outcome, sc.ATTEMPTS: attempts}
                if cost is not None:
                    attributes[sc.COST_SETTLED] = float(cost.settled)
                    attributes[sc.COST_POSSIBLY_BILLED] = float(cost.possibly_billed)
                    attributes[sc.COST_CURRENCY] = cost.currency
                if result is not None:
                    _result_attributes(attributes, result)
                if self._partials or self._restarts:
                    self._stream_attributes(attributes)
                span.set_attributes(attributes)
                if error is not None:
                    self._record_error(span, error)
            span.end()
        if self._token is not None:
            otel_context.detach(self._token)
            self._token = None
        inst = self.instruments
        if inst is not None:
            names = self.names
            attrs = names.attrs
            labels = names.labels
            inst.active.add(labels, -1)
            inst.calls.add(names.with_outcome(outcome))
            if cost is not None:
                tenant = self.tenant
                money = (*labels, tenant, outcome, cost.currency)
                inst.cost.add(money, float(cost.settled))
                inst.cost_possible.add(money, float(cost.possibly_billed))
                duplicates = ledger.possibly_billed_duplicates
                if duplicates:
                    inst.possibly_billed_duplicates.add((*labels, tenant), duplicates)
            if error is None:
                inst.duration.record(duration, attrs)
            else:
                inst.duration.record(duration, names.with_error(error))
                if (
                    isinstance(error, errors.ContentBlocked)
                    and error.source == "classifier"
                    and not self._classifier_blocked
                ):
                    self._count_block(error.stage, error.category, "classifier")
            if self._partials:
                assert self._first_partial is not None
                inst.stream_partials.add(labels, self._partials)
                inst.stream_first_partial.record(self._first_partial, attrs)
            if result is not None:
                if result.images:
                    inst.images.add(labels, len(result.images))
                usage = result.usage
                if usage.input_tokens is not None:
                    inst.tokens.record(usage.input_tokens, names.tokens_input)
                if usage.output_tokens is not None:
                    inst.tokens.record(usage.output_tokens, names.tokens_output)
        if self.log is not None:
            level = _WARNING if error is not None and outcome != "cancelled" else _INFO
            if self._logs_at(level):
                self._log_call(result, error, outcome, attempts, duration)

    def _stream_attributes(self, attributes: dict[str, AttributeValue]) -> None:
        attributes[sc.STREAM_PARTIALS] = self._partials
        attributes[sc.STREAM_RESTARTS] = self._restarts
        if self._first_partial is not None:
            attributes[sc.STREAM_TIME_TO_FIRST_PARTIAL] = self._first_partial

    def _record_error(self, span: Span, error: BaseException) -> None:
        """Status, ``error.type`` and an ``exception`` event, all scrubbed of secrets and prompt."""
        prompt = self.call.request.prompt
        message = error_message(error, prompt)
        span.set_attribute(sc.ERROR_TYPE, error_type(error))
        span.set_status(Status(StatusCode.ERROR, message or error_type(error)))
        stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        cls = type(error)
        span.add_event(
            "exception",
            {
                "exception.type": f"{cls.__module__}.{cls.__qualname__}",
                "exception.message": message,
                "exception.stacktrace": scrub(stack, prompt),
            },
        )

    def _log_call(
        self,
        result: GenerationResult | None,
        error: BaseException | None,
        outcome: str,
        attempts: int,
        duration: float,
    ) -> None:
        call = self.call
        request = call.request
        fields: dict[str, Any] = {
            "generation_id": call.generation_id,
            "provider": call.provider,
            "model": call.model,
            "key": call.key,
            "outcome": outcome,
            "attempts": attempts,
            "duration_s": round(duration, 6),
            "prompt_sha256": self._prompt_digest(),
            "prompt_chars": len(request.prompt),
        }
        trace_id = self.trace_id
        if trace_id is not None and self.span is not None:
            fields["trace_id"] = trace_id
            fields["span_id"] = format(self.span.get_span_context().span_id, "016x")
        if self.log_prompts:
            fields["prompt"] = request.prompt
        if self._partials or self._restarts:
            fields["partials"] = self._partials
            fields["restarts"] = self._restarts
            if self._first_partial is not None:
                fields["time_to_first_partial_s"] = round(self._first_partial, 6)

        if call.billing.charges:
            cost = call.billing.cost()
            fields["cost"] = str(cost.settled)
            if cost.possibly_billed:
                fields["cost_possibly_billed"] = str(cost.possibly_billed)
        log = self.log
        assert log is not None
        if result is not None:
            fields["images"] = len(result.images)
            fields["image_bytes"] = sum(len(image.data) for image in result.images)
            if result.usage.input_tokens is not None:
                fields["input_tokens"] = result.usage.input_tokens
            if result.usage.output_tokens is not None:
                fields["output_tokens"] = result.usage.output_tokens
            if result.request_id:
                fields["response_id"] = result.request_id
            log.info("genguard.call", **fields)
            return
        assert error is not None
        fields["error_type"] = error_type(error)
        fields["error"] = error_message(error, request.prompt)
        if isinstance(error, errors.ContentBlocked):
            fields["stage"] = error.stage
            fields["category"] = error.category
            fields["source"] = error.source
        if outcome == "cancelled":
            log.info("genguard.call", **fields)
        else:
            log.warning("genguard.call", **fields)

    # -- helpers for layer events ---------------------------------------------------------
    def _event(self, name: str, attributes: dict[str, AttributeValue]) -> None:
        """A span event on the open attempt span, else on the call span."""
        span = self._attempt_span or self.span
        if span is not None and span.is_recording():  # not after the call ended
            span.add_event(name, attributes)

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        """One log line for a notable layer event, tied to the call and its current span."""
        log = self.log
        if log is None or not self._logs_at(_LEVELS[level]):
            return
        fields["generation_id"] = self.call.generation_id
        trace_id = self.trace_id
        if trace_id is not None:
            span = self._attempt_span or self.span
            assert span is not None
            fields["trace_id"] = trace_id
            fields["span_id"] = format(span.get_span_context().span_id, "016x")
        getattr(log, level)(event, **fields)

    def _count_block(self, stage: str, category: str, source: str) -> None:
        if self.instruments is not None:
            self.instruments.safety_blocks.add((*self.names.labels, stage, category, source))

    def _end_attempt(
        self, error: BaseException | None, extra: dict[str, AttributeValue] | None = None
    ) -> None:
        """End the attempt span, with ``extra`` attributes (billing) set in the same call."""
        span = self._attempt_span
        assert span is not None
        if span.is_recording():
            if error is not None:
                extra = {**extra} if extra else {}
                extra[sc.ERROR_TYPE] = error_type(error)
            if extra:
                span.set_attributes(extra)
            if error is not None:
                span.set_status(
                    Status(StatusCode.ERROR, error_message(error, self.call.request.prompt))
                )
        span.end()
        self._attempt_span = None
        if self._attempt_token is not None:
            otel_context.detach(self._attempt_token)
            self._attempt_token = None

    # -- Observer: attempts -----------------------------------------------------------------
    def attempt_started(self, call: Call) -> None:
        self.previous.attempt_started(call)
        if self.tracer is not None and self.span is not None:
            if self._attempt_span is not None:  # overlapping attempts: close the stale one
                self._end_attempt(None)
            attributes: dict[str, AttributeValue] = {sc.ATTEMPT: call.attempt}
            if call.key != self.key:  # re-routed (fallback): say where this attempt went
                attributes[sc.PARTITION_KEY] = call.key
            # The current context with the call span in it: the one made at start while
            # nothing was attached since (the usual case), else a fresh one.
            current = otel_context.get_current()
            parent = current if current is self._ctx else trace.set_span_in_context(self.span)
            span = self.tracer.start_span(
                sc.ATTEMPT_SPAN,
                context=parent,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
            )
            self._attempt_span = span
            self._attempt_token = otel_context.attach(trace.set_span_in_context(span))

    def attempt_finished(self, call: Call, error: BaseException | None) -> None:
        self.previous.attempt_finished(call, error)
        charges = call.billing.charges
        charge = charges[-1] if charges and charges[-1].attempt == call.attempt else None
        if self._attempt_span is not None:
            billing: dict[str, AttributeValue] | None = None
            if charge is not None:
                billing = {sc.BILLING_STATUS: charge.status}
                if charge.amount is not None:
                    billing[sc.BILLING_AMOUNT] = float(charge.amount)
            self._end_attempt(error, billing)
        inst = self.instruments
        if inst is not None:
            inst.attempts.add(self.names.with_outcome(outcome_of(error)))
            if charge is not None:
                inst.billed_attempts.add((*self.names.labels, charge.status))
        if isinstance(error, errors.ContentBlocked) and error.source == "provider":
            self._count_block(error.stage, error.category, "provider")
            self._emit(
                "warning",
                sc.EVENT_SAFETY_VERDICT,
                {
                    "stage": error.stage,
                    "category": error.category,
                    "source": "provider",
                    "action": "block",
                    "attempt": call.attempt,
                },
            )

    # -- Observer: layer events -------------------------------------------------------------
    def retry_scheduled(
        self, call: Call, delay: float, reason: str, hint_source: str | None
    ) -> None:
        self.previous.retry_scheduled(call, delay, reason, hint_source)
        hint = hint_source or "none"
        self._event(
            sc.EVENT_RETRY_SCHEDULED,
            {
                sc.ATTEMPT: call.attempt,
                sc.RETRY_DELAY: float(delay),
                sc.RETRY_REASON: reason,
                sc.RETRY_HINT_SOURCE: hint,
            },
        )
        if self.instruments is not None:
            self.instruments.retries.add((*self.names.labels, reason, hint))
        self._emit(
            "info",
            sc.EVENT_RETRY_SCHEDULED,
            {
                "attempt": call.attempt,
                "delay_s": round(float(delay), 6),
                "reason": reason,
                "hint_source": hint,
            },
        )

    def retry_gave_up(self, call: Call, reason: str) -> None:
        self.previous.retry_gave_up(call, reason)
        self._event(sc.EVENT_RETRY_GAVE_UP, {sc.ATTEMPT: call.attempt, sc.RETRY_REASON: reason})
        if self.instruments is not None:
            self.instruments.retry_gave_up.add((*self.names.labels, reason))
        self._emit("warning", sc.EVENT_RETRY_GAVE_UP, {"attempt": call.attempt, "reason": reason})

    def limiter_waited(self, call: Call, key: str, seconds: float, reason: str) -> None:
        self.previous.limiter_waited(call, key, seconds, reason)
        if self.instruments is not None:
            self.instruments.limiter_wait.record(
                max(0.0, float(seconds)),
                {**self.names.attrs, sc.LIMITER_KEY: key, sc.LIMITER_REASON: reason},
            )
        if seconds > 0:  # a zero wait explains nothing: metric only
            self._event(
                sc.EVENT_LIMITER_WAITED,
                {
                    sc.LIMITER_KEY: key,
                    sc.LIMITER_SECONDS: float(seconds),
                    sc.LIMITER_REASON: reason,
                },
            )
            self._emit(
                "info",
                sc.EVENT_LIMITER_WAITED,
                {"limiter_key": key, "seconds": round(float(seconds), 6), "reason": reason},
            )

    def limiter_paused(self, call: Call, key: str, seconds: float, source: str) -> None:
        self.previous.limiter_paused(call, key, seconds, source)
        self._event(
            sc.EVENT_LIMITER_PAUSED,
            {sc.LIMITER_KEY: key, sc.LIMITER_SECONDS: float(seconds), sc.LIMITER_SOURCE: source},
        )
        if self.instruments is not None:
            self.instruments.limiter_pauses.add((*self.names.labels, key, source))
        self._emit(
            "warning",
            sc.EVENT_LIMITER_PAUSED,
            {"limiter_key": key, "seconds": round(float(seconds), 6), "source": source},
        )

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        self.previous.breaker_changed(call, key, old, new, reason)
        self._event(
            sc.EVENT_BREAKER_CHANGED,
            {
                sc.BREAKER_KEY: key,
                sc.BREAKER_FROM: old,
                sc.BREAKER_TO: new,
                sc.BREAKER_STATE: new,
                sc.BREAKER_REASON: reason,
            },
        )
        inst = self.instruments
        if inst is not None:
            value = sc.BREAKER_STATE_VALUES.get(new)
            if value is not None:
                inst.breaker_state.set((key,), value)
            inst.breaker_transitions.add((key, old, new))
        self._emit(
            "warning",
            sc.EVENT_BREAKER_CHANGED,
            {"breaker_key": key, "old": old, "new": new, "reason": reason},
        )

    def safety_verdict(
        self,
        call: Call,
        stage: str,
        allowed: bool,
        categories: dict[str, float],
        classifier: str,
        action: str,
    ) -> None:
        self.previous.safety_verdict(call, stage, allowed, categories, classifier, action)
        ranked: Sequence[tuple[str, float]] = (
            sorted(
                ((str(k), float(v)) for k, v in categories.items() if isinstance(v, int | float)),
                key=_by_score,
            )
            if categories
            else ()  # the usual verdict: nothing scored
        )
        span = self._attempt_span or self.span
        if span is not None and span.is_recording():
            span.add_event(
                sc.EVENT_SAFETY_VERDICT,
                {
                    sc.SAFETY_STAGE: stage,
                    sc.SAFETY_ALLOWED: bool(allowed),
                    sc.SAFETY_ACTION: action,
                    sc.SAFETY_CLASSIFIER: classifier,
                    sc.SAFETY_CATEGORIES: [name for name, _ in ranked],
                    sc.SAFETY_SCORES: [score for _, score in ranked],
                },
            )
        if self.instruments is not None:
            self.instruments.safety_verdicts.add((*self.names.labels, stage, action, classifier))
        category = ranked[0][0] if ranked else "unspecified"
        if action == "block":
            self._classifier_blocked = True
            self._count_block(stage, category, "classifier")
        if action != "allow":
            self._emit(
                "warning",
                sc.EVENT_SAFETY_VERDICT,
                {
                    "stage": stage,
                    "action": action,
                    "category": category,
                    "classifier": classifier,
                    "source": "classifier",
                },
            )

    def fallback_used(self, call: Call, from_key: str, to_key: str, reason: str) -> None:
        self.previous.fallback_used(call, from_key, to_key, reason)
        self._event(
            sc.EVENT_FALLBACK_USED,
            {sc.FALLBACK_FROM: from_key, sc.FALLBACK_TO: to_key, sc.FALLBACK_REASON: reason},
        )
        if self.instruments is not None:
            self.instruments.fallbacks.add((from_key, to_key, reason))
        self._emit(
            "warning",
            sc.EVENT_FALLBACK_USED,
            {"from_key": from_key, "to_key": to_key, "reason": reason},
        )

    def backend_error(self, component: str, error: BaseException, action: str) -> None:
        self.previous.backend_error(component, error, action)
        self._event(
            sc.EVENT_BACKEND_ERROR,
            {
                sc.BACKEND_COMPONENT: component,
                sc.BACKEND_ACTION: action,
                sc.ERROR_TYPE: error_type(error),
            },
        )
        if self.instruments is not None:
            self.instruments.backend_errors.add((component, action))
        self._emit(
            "error",
            sc.EVENT_BACKEND_ERROR,
            {
                "component": component,
                "action": action,
                "error_type": error_type(error),
                "error": error_message(error, self.call.request.prompt),
            },
        )

    def stream_partial(self, call: Call, index: int, elapsed: float) -> None:
        self.previous.stream_partial(call, index, elapsed)
        if self._first_partial is None:
            self._first_partial = max(0.0, float(elapsed))
        self._partials += 1
        self._event(
            sc.EVENT_STREAM_PARTIAL, {sc.ATTEMPT: call.attempt, sc.STREAM_PARTIAL_INDEX: index}
        )

    def stream_restarted(self, call: Call, reason: str, discarded: int) -> None:
        self.previous.stream_restarted(call, reason, discarded)
        self._restarts += 1
        self._event(
            sc.EVENT_STREAM_RESTARTED,
            {
                sc.ATTEMPT: call.attempt,
                sc.STREAM_RESTART_REASON: reason,
                sc.STREAM_PARTIALS: discarded,
            },
        )
        if self.instruments is not None:
            self.instruments.stream_restarts.add((*self.names.labels, reason))
        self._emit(
            "warning",
            sc.EVENT_STREAM_RESTARTED,
            {"attempt": call.attempt, "reason": reason, "discarded": discarded},
        )

    def budget_remaining(
        self, call: Call, tenant: str, window: str, remaining: float, limit: float
    ) -> None:
        self.previous.budget_remaining(call, tenant, window, remaining, limit)
        if self.instruments is not None:
            self.instruments.budget_remaining.set((tenant, window), remaining)

    def notice(self, call: Call | None, event: str, **fields: Any) -> None:
        self.previous.notice(call, event, **fields)
        flat = flat_fields(fields, self.call.request.prompt)
        self._event(sc.EVENT_NOTICE, {"genguard.notice": event, **flat})
        self._emit("info", sc.EVENT_NOTICE, {**flat, "notice": event})


__all__ = [
    "MAX_LABEL_SETS",
    "MAX_SERIES",
    "OUTCOMES",
    "CallLabels",
    "CallTelemetry",
    "Counts",
    "Instruments",
    "LabelCache",
    "Logger",
    "error_type",
    "level_check",
    "outcome_of",
    "provider_name",
]
