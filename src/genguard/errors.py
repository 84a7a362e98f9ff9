"""One error tree: every failure a caller can see, each carrying what it needs to act.

Messages never contain an API key: providers build them from parsed provider
fields only, and :func:`redact` is applied to any text that came off the wire.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

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

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ContentBlocked(GenGuardError):
    """The prompt (input) or the generated content (output) was refused on policy grounds.

    Never retried, never counted as a breaker failure, never routed around.
    """

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


class RateLimited(GenGuardError):
    """Too many requests: the server said so (scope="server") or the client limiter did."""

    retryable = True
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
        super().__init__(message)
        self.retry_after = retry_after
        self.scope = scope
        self.hint_source = hint_source
        self.status = status
        self.code = code
        self.request_id = request_id
        self.provider = provider


class QuotaExhausted(GenGuardError):
    """A billing or long-period quota is used up (OpenAI insufficient_quota, Gemini per-day)."""

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
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.request_id = request_id
        self.provider = provider


class CircuitOpen(GenGuardError):
    """The breaker for ``key`` is open (or its half-open probes are taken) until ``retry_at``."""

    def __init__(self, message: str, *, key: str, retry_at: float) -> None:
        super().__init__(message)
        self.key = key
        #: Monotonic time (the call's clock) at which a probe may be admitted.
        self.retry_at = retry_at


class BulkheadFull(GenGuardError):
    """The concurrency cap's wait queue is full, or the wait would pass the deadline."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class RetryBudgetExhausted(GenGuardError):
    """Retries for this key are over budget; raised as the cause of the last error."""

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

    def __init__(self, message: str, *, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


class ProviderError(GenGuardError):
    """The provider answered with an error (or could not be reached)."""

    #: The request field the provider blamed (OpenAI ``error.param``), if any.
    param: str | None = None

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
        if retryable is not None:
            self.retryable = retryable
        self.request_id = request_id
        self.provider = provider
        self.retry_after = retry_after
        self.hint_source = hint_source
        if status is not None and 500 <= status <= 599:
            self.breaker_failure = True


class ProviderUnavailable(ProviderError):
    """5xx, overloaded, connection refused or reset: worth retrying, counts against the breaker."""

    retryable = True
    breaker_failure = True


class BadRequest(ProviderError):
    """A 4xx that a retry cannot fix (bad field, unknown model, missing signature)."""


class NoImageGenerated(ProviderError):
    """The model answered without an image and without a block (Gemini ``NO_IMAGE``,
    ``IMAGE_OTHER``, or a text-only ``STOP``): ``finish_reason`` says which.
    Retryable when a second try can plausibly succeed."""

    finish_reason: str | None = None


class AuthenticationError(ProviderError):
    """The key is missing, invalid, or lacks permission."""


class InvalidRequest(GenGuardError):
    """A request the model cannot serve, caught before sending: no round trip, no bill.

    Not a provider's 400 (nothing was sent). ``field`` names the request field,
    ``allowed`` the values the model accepts (empty when there is no list).
    """

    billing: BillingStatus | None = "not_sent"

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


__all__ = [
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
    "redact",
]
