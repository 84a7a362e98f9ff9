"""One error tree: every failure a caller can see, each carrying what it needs to act.

What an error means is decided here, once, as facts on the error: ``retryable``
(the retry layer), ``breaker_failure`` (the circuit breaker), ``reroutable``
(fallback's default), ``billing`` (the cost ledger), ``kind`` (its name in
configuration files and observer events) and ``outcome`` (its telemetry label).
A class declares its facts; a provider error's status fills in the ones its
class leaves open (5xx counts against the breaker, 408/409 is retryable). Layers
read the facts through :func:`is_retryable` and :func:`counts_against_breaker`
and keep no lists of their own, so a new error class, or an application's
subclass, is handled everywhere by declaring its facts.

Messages never contain an API key: providers build them from parsed provider
fields only, and :func:`redact` is applied to any text that came off the wire.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from decimal import Decimal

    from .billing import Cost
    from .model import Image, RateLimitInfo, Usage

Stage = Literal["input", "output"]
BlockSource = Literal["classifier", "provider"]
#: Whether an attempt may have cost money: refused locally or never reached the
#: provider; answered with an error (not billed); sent but the answer was lost
#: (possibly billed); billed (usage came back).
BillingStatus = Literal["not_sent", "rejected", "uncertain", "billed"]

_KEY_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),  # OpenAI keys
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)(key=)[A-Za-z0-9._\-]{8,}"),
)


def redact(text: str, *secrets: str | None) -> str:
    """Remove known secrets and anything shaped like an API key from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    lowered = text.lower()
    if (
        "sk-" not in text
        and "AIza" not in text
        and "bearer" not in lowered
        and "key=" not in lowered
    ):
        return text  # no pattern can match without its literal (most ids and messages)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


class GenGuardError(Exception):
    """Base of every error genguard raises."""

    #: Whether retrying the same request can succeed. Layers read this, not types.
    retryable: bool = False
    #: The billing status of the attempt, set where the error is made when that place
    #: knows it (a provider's error answer is ``rejected``, a lost answer ``uncertain``);
    #: None lets ``genguard.billing`` decide from whether the request went out.
    billing: BillingStatus | None = None
    #: Usage the provider reported alongside the error (a blocked 200 answer).
    usage: Usage | None = None
    #: What the call had cost when it failed; set by the client once an attempt
    #: was billed or possibly billed.
    cost: Cost | None = None
    #: Whether this error is a sign of a sick provider (5xx, connection failure, attempt
    #: timeout), so it counts against the circuit breaker. Never a 429, a block, a 4xx or
    #: a refusal made on the client side. Decided here, once; the breaker only reads it.
    breaker_failure: bool = False
    #: Whether another stack (provider or model) may serve the call this error ended:
    #: the primary is open, down, out of quota or out of time. Fallback routes these
    #: unless its ``on`` names other kinds. Never a block or a bad request.
    reroutable: bool = False
    #: The error's name in configuration files (fallback ``on``) and in observer
    #: events (fallback's reason); None when it cannot be named. Subclasses inherit it.
    kind: ClassVar[str | None] = None
    #: The low-cardinality ``genguard.outcome`` label on spans and metrics.
    outcome: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ContentBlocked(GenGuardError):
    """The prompt (input) or the generated content (output) was refused on policy grounds.

    Never retried, never counted as a breaker failure, never routed around.
    """

    outcome: ClassVar[str] = "blocked"

    def __init__(
        self,
        message: str,
        *,
        stage: Stage,
        category: str,
        source: BlockSource,
        reason: str | None = None,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stage: Stage = stage
        self.category = category
        self.source: BlockSource = source
        self.reason = reason
        self.provider = provider
        self.status = status
        self.request_id = request_id


class ClassifierUnavailable(GenGuardError):
    """A safety classifier could not judge (outage, timeout, bad answer) and fails closed.

    Not a policy verdict: nothing was judged, so unlike ``ContentBlocked`` the same
    request may pass once the classifier is back.
    """

    retryable = True

    def __init__(self, message: str, *, classifier: str, stage: Stage = "input") -> None:
        super().__init__(message)
        self.classifier = classifier
        self.stage: Stage = stage


class CircuitOpen(GenGuardError):
    """The breaker for ``key`` is open (or its half-open probes are taken) until ``retry_at``."""

    reroutable = True
    kind: ClassVar[str | None] = "circuit_open"
    outcome: ClassVar[str] = "circuit_open"

    def __init__(self, message: str, *, key: str, retry_at: float) -> None:
        super().__init__(message)
        self.key = key
        #: Monotonic time (the call's clock) at which a probe may be admitted.
        self.retry_at = retry_at


class BulkheadFull(GenGuardError):
    """The concurrency cap's wait queue is full, or the wait would pass the deadline."""

    kind: ClassVar[str | None] = "bulkhead_full"
    outcome: ClassVar[str] = "bulkhead_full"

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class RetryBudgetExhausted(GenGuardError):
    """Retries for this key are over budget; raised as the cause of the last error."""

    reroutable = True
    kind: ClassVar[str | None] = "retry_budget"
    outcome: ClassVar[str] = "retry_budget_exhausted"

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class StateUnavailable(GenGuardError):
    """Shared state (e.g. Redis) could not be reached and ``on_backend_error`` is
    ``fail_closed``: the attempt is refused rather than run outside the fleet's limits.

    Retryable: the same request may pass once the backend is back.
    """

    retryable = True

    def __init__(self, message: str, *, component: str) -> None:
        super().__init__(message)
        #: Which store failed: ``rate_limit`` or ``circuit_breaker``.
        self.component = component


class BudgetExceeded(GenGuardError):
    """The call's estimated cost does not fit the tenant's remaining budget.

    Raised before dispatch, so nothing reached the provider. Never retried: the
    budget frees up only when its window turns over.
    """

    billing: BillingStatus | None = "not_sent"
    outcome: ClassVar[str] = "budget_exceeded"

    def __init__(
        self,
        message: str,
        *,
        tenant: str,
        window: str,
        limit: Decimal,
        remaining: Decimal,
        requested: Decimal,
        retry_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.tenant = tenant
        self.window = window
        self.limit = limit
        self.remaining = remaining
        self.requested = requested
        #: Epoch seconds at which the window turns over.
        self.retry_at = retry_at


class PriceUnknown(GenGuardError):
    """No price is known for a model (or its size, quality or tier); a budget cannot
    reserve what it cannot price. Add the model to ``prices`` in the policy file."""

    billing: BillingStatus | None = "not_sent"

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class DeadlineExceeded(GenGuardError):
    """The call's overall deadline passed; says how far it got."""

    reroutable = True
    kind: ClassVar[str | None] = "deadline"
    outcome: ClassVar[str] = "deadline_exceeded"

    def __init__(
        self, message: str, *, attempts: int = 0, last_error: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error


class AttemptTimeout(GenGuardError):
    """One attempt took longer than its per-attempt timeout."""

    retryable = True
    breaker_failure = True
    reroutable = True
    kind: ClassVar[str | None] = "attempt_timeout"
    outcome: ClassVar[str] = "timeout"

    def __init__(self, message: str, *, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


class ProviderError(GenGuardError):
    """The provider answered with an error (or could not be reached), a 429 and a spent
    quota included: ``except ProviderError`` catches everything that came from upstream.

    The status fills in the facts a subclass leaves open: a 5xx counts against the
    breaker, a 408 or 409 is retryable. A fact a class declares itself wins over its
    status, and ``retryable=`` given here wins over both.
    """

    #: The request field the provider blamed (OpenAI ``error.param``), if any.
    param: str | None = None
    outcome: ClassVar[str] = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        request_id: str | None = None,
        provider: str | None = None,
        retry_after: float | None = None,
        hint_source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.provider = provider
        self.retry_after = retry_after
        self.hint_source = hint_source
        cls = type(self)
        if status in RETRY_STATUSES and not _declares(cls, "retryable"):
            self.retryable = True
        if retryable is not None:
            self.retryable = retryable
        if status is not None and 500 <= status <= 599 and not _declares(cls, "breaker_failure"):
            self.breaker_failure = True


#: Statuses that mean "try again" whatever error class a provider mapped them to
#: (request timeout, conflict).
RETRY_STATUSES = frozenset({408, 409})


def _declares(cls: type, fact: str) -> bool:
    """Whether ``cls`` or a class between it and ``ProviderError`` declares ``fact``."""
    for klass in cls.__mro__:
        if klass is ProviderError:
            return False
        if fact in vars(klass):
            return True
    return False


def names_daily_quota(name: str | None) -> bool:
    """Whether a quota id or error code names a per-day quota (Gemini ``...PerDay...``),
    which does not reset within a call: such a 429 is not retried."""
    return name is not None and "perday" in name.replace("_", "").replace("-", "").lower()


class RateLimited(ProviderError):
    """Too many requests: the server said so (scope="server") or the client limiter did.

    A ``ProviderError`` since the provider's rate limit is what was hit (the client
    limiter only keeps the caller under it). Retryable, unless its code names a
    per-day quota; never a breaker failure (a 429 means "slow down", not "sick").
    """

    retryable = True
    breaker_failure = False
    reroutable = True
    kind: ClassVar[str | None] = "rate_limited"
    outcome: ClassVar[str] = "rate_limited"
    #: OpenAI ``x-ratelimit-*`` headers sent with the 429 (None when absent); the
    #: rate-limit layer pauses the key when a bucket's remaining count is 0.
    rate_limit: RateLimitInfo | None = None
    #: Quota ids the provider named (Gemini ``QuotaFailure.violations[].quotaId``, e.g.
    #: ``GenerateRequestsPerMinutePerProjectPerModel``): evidence the 429 is a quota.
    quota_ids: tuple[str, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        scope: Literal["server", "client"] = "server",
        hint_source: str | None = None,
        status: int | None = 429,
        code: str | None = None,
        request_id: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            retryable=False if names_daily_quota(code) else None,
            request_id=request_id,
            provider=provider,
            retry_after=retry_after,
            hint_source=hint_source,
        )
        self.scope = scope


class QuotaExhausted(ProviderError):
    """A billing or long-period quota is used up (OpenAI insufficient_quota, Gemini per-day).

    Never retried (it does not come back within a call), never a breaker failure;
    reroutable, since another provider's quota is not this one's.
    """

    retryable = False
    breaker_failure = False
    reroutable = True
    kind: ClassVar[str | None] = "quota_exhausted"
    outcome: ClassVar[str] = "quota_exhausted"
    #: Quota ids the provider named (Gemini ``...PerDay...``), used to tell when it resets.
    quota_ids: tuple[str, ...] = ()
    #: True when genguard refused locally because the key's quota was already spent
    #: (nothing was sent); False when the provider said so.
    local: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            request_id=request_id,
            provider=provider,
            retry_after=retry_after,
        )


class ProviderUnavailable(ProviderError):
    """5xx, overloaded, connection refused or reset: worth retrying, counts against the breaker."""

    retryable = True
    breaker_failure = True
    reroutable = True
    kind: ClassVar[str | None] = "unavailable"
    outcome: ClassVar[str] = "unavailable"


class BadRequest(ProviderError):
    """A provider's 4xx that a retry cannot fix (bad field, unknown model, missing signature).

    Only ever made from a provider's answer: a request refused before sending is an
    ``InvalidRequest``.
    """

    kind: ClassVar[str | None] = "bad_request"
    outcome: ClassVar[str] = "bad_request"


class NoImageGenerated(ProviderError):
    """The model answered without an image and without a block (Gemini ``NO_IMAGE``,
    ``IMAGE_OTHER``, or a text-only ``STOP``): ``finish_reason`` says which.
    Retryable when a second try can plausibly succeed."""

    finish_reason: str | None = None


class AuthenticationError(ProviderError):
    """The key is missing, invalid, or lacks permission. Never retried, whatever the status."""

    retryable = False
    kind: ClassVar[str | None] = "authentication"
    outcome: ClassVar[str] = "auth_error"


class InvalidRequest(GenGuardError):
    """A request refused before sending (a bad argument, or a value the model cannot take):
    no round trip, no bill.

    Not a provider's 400 (nothing was sent), so not a ``ProviderError``. ``field``
    names the request field, ``allowed`` the values the model accepts (empty when
    there is no list). Deliberately not a ``ValueError`` either: genguard and
    applications wrap parsing code in ``except ValueError``, which would swallow a
    refused request and its facts (not retryable, ``billing="not_sent"``); some
    refusals are about a type, not a value; and ``except GenGuardError`` is the one
    catch every genguard failure answers to.
    """

    billing: BillingStatus | None = "not_sent"
    outcome: ClassVar[str] = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        field: str = "",
        value: object = None,
        allowed: tuple[str, ...] = (),
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.allowed = allowed
        self.model = model


class UnknownModel(InvalidRequest):
    """The model is not in the catalogue (``suggestions`` are the closest known names)."""

    def __init__(self, message: str, *, model: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message, field="model", value=model, allowed=suggestions, model=model)
        self.suggestions = suggestions


class ModelRetired(InvalidRequest):
    """The model is past its retirement date and the policy says fail; names its successor."""

    def __init__(
        self, message: str, *, model: str, retired_on: str | None, successor: str | None
    ) -> None:
        super().__init__(
            message,
            field="model",
            value=model,
            allowed=(successor,) if successor else (),
            model=model,
        )
        self.retired_on = retired_on
        self.successor = successor


class ClientClosed(GenGuardError, RuntimeError):
    """The client (or its transport) was closed; nothing new is sent or opened after that."""


class ResponseError(GenGuardError):
    """The response body was malformed or not what the API documents."""

    outcome: ClassVar[str] = "response_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.provider = provider
        self.request_id = request_id
        if status is not None and 500 <= status <= 599:
            self.breaker_failure = True


class StreamError(GenGuardError):
    """Base of the failures only a stream has; what arrived before the failure stays on it.

    ``partials`` are the partial images the failed attempt delivered (already
    shown to the consumer), ``events`` how many stream events it received.
    """

    partials: tuple[Image, ...] = ()
    events: int = 0


class StreamTimeout(AttemptTimeout, StreamError):
    """A stream went quiet for longer than one of its timeouts allows.

    ``phase`` is which one: ``connect`` (no response headers), ``first_event``
    (headers but no event yet), ``idle`` (too long since the last event) or
    ``total`` (the whole stream took too long). Retryable like any attempt timeout.
    """

    def __init__(self, message: str, *, phase: str, timeout: float) -> None:
        super().__init__(message, timeout=timeout)
        self.phase = phase


class IncompleteStream(ProviderUnavailable, StreamError):
    """The stream stopped before its completed event.

    ``reason``: ``ended_without_completed`` (a clean end, but no result),
    ``cut_mid_event`` (the bytes stopped inside an event) or ``connection_lost``
    (the connection broke after the headers).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        provider: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=reason, provider=provider, request_id=request_id)
        self.reason = reason


class MalformedStreamEvent(ResponseError, StreamError):
    """A stream event could not be read (not JSON, a missing field, bad base64, too large)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str = "malformed",
        event: str | None = None,
        provider: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, request_id=request_id)
        self.reason = reason
        self.event = event


class ConfigError(GenGuardError):
    """Invalid configuration; ``path`` is the dotted location, e.g. ``profiles.prod.layers[2]``."""

    outcome: ClassVar[str] = "config_error"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class ConfigErrors(ConfigError):
    """Several configuration errors found in one pass; ``errors`` lists them all."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.path, first.reason)
        self.errors = errors
        self.message = "\n".join(str(e) for e in errors)
        self.args = (self.message,)


def is_retryable(error: BaseException) -> bool:
    """Whether retrying the same request can fix ``error``: its ``retryable`` fact.

    Anything that is not a ``GenGuardError`` is a bug, not a transient failure: never.
    """
    return isinstance(error, GenGuardError) and error.retryable


def counts_against_breaker(error: BaseException) -> bool:
    """Whether ``error`` is a sign of a sick backend: its ``breaker_failure`` fact.

    A raw ``ConnectionError`` (from a custom provider that did not map it) counts
    too; any other foreign exception, and cancellation, does not.
    """
    if isinstance(error, GenGuardError):
        return error.breaker_failure
    return isinstance(error, ConnectionError)


def _tree() -> tuple[type[GenGuardError], ...]:
    return tuple(
        value
        for value in globals().values()
        if isinstance(value, type)
        and issubclass(value, GenGuardError)
        and value.__module__ == __name__
    )


#: Every error this module names, by ``kind`` (the class that declares the kind: its
#: subclasses share it). Read-only; derived from the classes, not kept by hand.
NAMED: Mapping[str, type[GenGuardError]] = MappingProxyType(
    {cls.kind: cls for cls in _tree() if cls.kind is not None and "kind" in vars(cls)}
)
#: Every ``outcome`` label the tree declares (``error`` included), in declaration order.
OUTCOMES: tuple[str, ...] = tuple(dict.fromkeys(cls.outcome for cls in _tree()))


def named(name: str) -> type[GenGuardError] | None:
    """The error class a configuration file means by ``name`` (its ``kind``), or None."""
    return NAMED.get(name)


__all__ = [
    "NAMED",
    "OUTCOMES",
    "RETRY_STATUSES",
    "AttemptTimeout",
    "AuthenticationError",
    "BadRequest",
    "BillingStatus",
    "BlockSource",
    "BudgetExceeded",
    "BulkheadFull",
    "CircuitOpen",
    "ClassifierUnavailable",
    "ClientClosed",
    "ConfigError",
    "ConfigErrors",
    "ContentBlocked",
    "DeadlineExceeded",
    "GenGuardError",
    "IncompleteStream",
    "InvalidRequest",
    "MalformedStreamEvent",
    "ModelRetired",
    "NoImageGenerated",
    "PriceUnknown",
    "ProviderError",
    "ProviderUnavailable",
    "QuotaExhausted",
    "RateLimited",
    "ResponseError",
    "RetryBudgetExhausted",
    "Stage",
    "StateUnavailable",
    "StreamError",
    "StreamTimeout",
    "UnknownModel",
    "counts_against_breaker",
    "is_retryable",
    "named",
    "names_daily_quota",
    "redact",
]
