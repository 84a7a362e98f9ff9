"""An error's meaning is decided once, as facts on the error, and every layer honours them.

Applications' own error classes (declaring only facts) go through the real layers over
loopback HTTP to the simulator: if a layer kept a list of its own instead of reading
``retryable``, ``breaker_failure`` or ``reroutable``, these tests fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genguard import Client, FakeClock, GenerationRequest, RecordingObserver
from genguard.errors import (
    NAMED,
    OUTCOMES,
    RETRY_STATUSES,
    AttemptTimeout,
    AuthenticationError,
    BadRequest,
    CircuitOpen,
    GenGuardError,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    counts_against_breaker,
    is_retryable,
    named,
    names_daily_quota,
)
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.fallback import DEFAULT_ON, FallbackLayer, FallbackTarget
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.model import Call, GenerationResult
from genguard.pipeline import Handler, Layer, Scope
from genguard.providers.base import Provider
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.openai_stream import partial_images
from genguard.sim import Simulator
from genguard.sim.replies import Reply
from genguard.telemetry import outcome_of

PROMPT = "a lighthouse at dusk"


# -- an application's own errors: they declare facts and nothing else ------------------------
class Overloaded(GenGuardError):
    """The application's name for an upstream overload: says it is worth retrying."""

    retryable = True


class Final(GenGuardError):
    """The same upstream failure, but the application says a retry cannot help."""


class Sick(GenGuardError):
    """Counts against the breaker, though nothing in genguard raises it."""

    breaker_failure = True


class Expected503(ProviderError):
    """A 503 this deployment expects (a maintenance window): declared not a breaker failure,
    which wins over the status rule that would make any 5xx one."""

    breaker_failure = False


class Elsewhere(GenGuardError):
    """Another stack may serve the call."""

    reroutable = True


class Stuck(GenGuardError):
    """No other stack can help."""


class Rename:
    """An application's innermost layer: turns the provider's 5xx into its own error class."""

    scope: Scope = "attempt"

    def __init__(self, make: Callable[[ProviderUnavailable], GenGuardError]) -> None:
        self.make = make

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        try:
            return await next(call)
        except ProviderUnavailable as error:
            raise self.make(error) from error


def gemini(sim: Simulator) -> GeminiProvider:
    return GeminiProvider("sim-key-gemini", base_url=sim.base_url)


def fast_retry(attempts: int = 3) -> RetryLayer:
    return RetryLayer(attempts=attempts, initial=0.001, max_delay=0.001, jitter="none")


# -- retry reads ``retryable`` -----------------------------------------------------------------
async def test_an_application_error_that_says_retryable_is_retried_over_http() -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(503)])
        layers: list[Layer] = [fast_retry(), Rename(lambda e: Overloaded(e.message))]
        async with Client(gemini(sim), layers) as client:
            result = await client.generate(PROMPT)
        assert result.attempts == 2 and [r.status for r in sim.log] == [503, 200]


async def test_an_application_error_without_the_fact_is_not_retried_over_http() -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(503)])
        layers: list[Layer] = [fast_retry(), Rename(lambda e: Final(e.message))]
        async with Client(gemini(sim), layers) as client:
            with pytest.raises(Final):
                await client.generate(PROMPT)
        assert [r.status for r in sim.log] == [503]


async def test_an_instance_fact_overrides_the_class_fact() -> None:
    # ProviderUnavailable is retryable by class; this instance says otherwise.
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(503)])
        rename = Rename(lambda e: ProviderUnavailable(e.message, status=503, retryable=False))
        async with Client(gemini(sim), [fast_retry(), rename]) as client:
            with pytest.raises(ProviderUnavailable) as info:
                await client.generate(PROMPT)
        assert not info.value.retryable and len(sim.log) == 1


# -- the breaker reads ``breaker_failure`` ------------------------------------------------------
async def test_an_error_declared_not_a_breaker_failure_never_trips_it_over_http() -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(503)] * 6)
        breaker = CircuitBreakerLayer(fail_max=2, reset_timeout=60)
        rename = Rename(lambda e: Expected503(e.message, status=e.status))
        async with Client(gemini(sim), [breaker, rename]) as client:
            for _ in range(6):
                with pytest.raises(Expected503) as info:
                    await client.generate(PROMPT)
                assert info.value.status == 503 and not counts_against_breaker(info.value)
        snapshot = await breaker.snapshot("gemini/gemini-2.5-flash-image")
        assert snapshot.state == "closed" and len(sim.log) == 6


async def test_an_application_error_that_says_breaker_failure_trips_it_over_http() -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(503)] * 6)
        breaker = CircuitBreakerLayer(fail_max=2, reset_timeout=60)
        async with Client(gemini(sim), [breaker, Rename(lambda e: Sick(e.message))]) as client:
            for _ in range(2):
                with pytest.raises(Sick):
                    await client.generate(PROMPT)
            with pytest.raises(CircuitOpen):
                await client.generate(PROMPT)
        assert len(sim.log) == 2  # the third call never left the client


# -- fallback reads ``reroutable`` -------------------------------------------------------------
@pytest.mark.parametrize(("cls", "routed"), [(Elsewhere, True), (Stuck, False)])
async def test_fallback_routes_by_the_reroutable_fact_over_http(
    cls: type[GenGuardError], routed: bool
) -> None:
    recorder = RecordingObserver()
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(503)])
        target = FallbackTarget(OpenAIProvider("sk-sim-target-key-0123", base_url=sim.base_url))
        layers: list[Layer] = [FallbackLayer([target]), Rename(lambda e: cls(e.message))]
        async with Client(gemini(sim), layers, observer=recorder) as client:
            if routed:
                result = await client.generate(PROMPT)
                assert result.provider == "openai"
            else:
                with pytest.raises(cls):
                    await client.generate(PROMPT)
        assert [r.api for r in sim.log] == (["gemini", "openai"] if routed else ["gemini"])
    # an error without a ``kind`` is reported by its class name
    assert [u["reason"] for u in recorder.of("fallback_used")] == (["Elsewhere"] if routed else [])


def test_the_default_route_names_are_the_reroutable_kinds() -> None:
    assert set(DEFAULT_ON) == {name for name, cls in NAMED.items() if cls.reroutable}
    assert "bad_request" not in DEFAULT_ON and "authentication" not in DEFAULT_ON
    assert "quota_exhausted" in DEFAULT_ON and "unavailable" in DEFAULT_ON


# -- a provider's 429 and spent quota are ProviderErrors ---------------------------------------
def provider_for(api: str, sim: Simulator) -> Provider:
    if api == "gemini":
        return gemini(sim)
    return OpenAIProvider("sk-sim-key-openai-0123", base_url=sim.base_url)


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_except_provider_error_catches_a_server_429_over_http(api: str) -> None:
    async with Simulator() as sim:
        sim.script(api, [Reply.status(429, retry_after="1")])
        async with Client(provider_for(api, sim)) as client:
            try:
                await client.generate(PROMPT)
            except ProviderError as error:
                caught: ProviderError = error
            else:
                pytest.fail("a 429 did not raise")
    assert isinstance(caught, RateLimited) and caught.status == 429
    assert caught.scope == "server" and caught.provider == api
    assert caught.retryable and not caught.breaker_failure and caught.reroutable


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_except_provider_error_catches_a_spent_quota_over_http(api: str) -> None:
    async with Simulator("quota", images=1) as sim, Client(provider_for(api, sim)) as client:
        await client.generate(PROMPT)
        with pytest.raises(ProviderError) as info:
            await client.generate(PROMPT)
    assert isinstance(info.value, QuotaExhausted) and info.value.status == 429
    assert not info.value.retryable and not info.value.breaker_failure


async def test_a_server_429_is_still_retried_and_labelled_rate_limited() -> None:
    async with Simulator() as sim:
        sim.script("openai", [Reply.status(429, retry_after_ms=1)])
        async with Client(provider_for("openai", sim), [fast_retry()]) as client:
            result = await client.generate(PROMPT)
    assert result.attempts == 2
    assert outcome_of(RateLimited("x")) == "rate_limited"  # not provider_error
    assert outcome_of(QuotaExhausted("x")) == "quota_exhausted"


# -- local refusals are their own type ---------------------------------------------------------
LOCAL_REFUSALS: dict[str, Callable[[], object]] = {
    "prompt not text": lambda: GenerationRequest(prompt=5),  # type: ignore[arg-type]
    "n out of range": lambda: GenerationRequest(prompt="x", n=0),
    "bad model id": lambda: GenerationRequest(prompt="x", model="../admin"),
    "bad metadata": lambda: GenerationRequest(prompt="x", metadata={"k": 1}),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("make", LOCAL_REFUSALS.values(), ids=list(LOCAL_REFUSALS))
def test_a_request_check_is_an_invalid_request_not_a_bad_request(
    make: Callable[[], object],
) -> None:
    with pytest.raises(InvalidRequest) as info:
        make()
    assert_local(info.value)


@pytest.mark.parametrize("value", [-1, 4, "2", True, None, 2.0])
def test_the_partial_images_option_is_checked_locally(value: object) -> None:
    call = SimpleNamespace(request=GenerationRequest(prompt="x", options={"partial_images": value}))
    progress = SimpleNamespace(partial_images=1, max_event_bytes=1 << 20)
    with pytest.raises(InvalidRequest) as info:
        partial_images(call, progress)  # type: ignore[arg-type]
    assert_local(info.value)
    assert info.value.field == "options.partial_images"


async def test_a_catalogue_refusal_over_http_sends_nothing_and_is_not_a_bad_request() -> None:
    async with Simulator() as sim:
        async with Client(provider_for("openai", sim)) as client:
            with pytest.raises(InvalidRequest) as info:
                await client.generate(GenerationRequest(prompt="x", model="dall-e-3", n=2))
        assert sim.log == []
    assert_local(info.value)


def assert_local(error: InvalidRequest) -> None:
    assert isinstance(error, GenGuardError)
    assert not isinstance(error, BadRequest | ProviderError | ValueError)
    assert error.billing == "not_sent" and not is_retryable(error)
    assert not counts_against_breaker(error) and outcome_of(error) == "invalid_request"
    assert str(error)  # a message that says what was wrong


# -- the facts themselves: decided once, in one place --------------------------------------------
statuses = st.none() | st.integers(min_value=100, max_value=599)


@given(statuses)
def test_a_provider_status_fills_in_open_facts(status: int | None) -> None:
    error = ProviderError("x", status=status)
    assert error.retryable == (status in RETRY_STATUSES)
    assert error.breaker_failure == (status is not None and 500 <= status <= 599)
    assert is_retryable(error) == error.retryable
    assert counts_against_breaker(error) == error.breaker_failure


@given(statuses, st.sampled_from([None, True, False]))
def test_a_declared_fact_wins_over_the_status_and_an_argument_over_both(
    status: int | None, retryable: bool | None
) -> None:
    for cls, declared_retry, declared_breaker in (
        (ProviderUnavailable, True, True),
        (RateLimited, True, False),
        (QuotaExhausted, False, False),
        (Expected503, None, False),
    ):
        if cls in (RateLimited, QuotaExhausted):
            error: ProviderError = cls("x", status=status)
        else:
            error = cls("x", status=status, retryable=retryable)
        assert error.breaker_failure is declared_breaker
        if cls in (RateLimited, QuotaExhausted) or retryable is None:
            expected = declared_retry if declared_retry is not None else status in RETRY_STATUSES
        else:
            expected = retryable
        assert error.retryable is expected


@given(st.text(max_size=60))
def test_daily_quota_names_parse_any_text(text: str) -> None:
    found = names_daily_quota(text)
    assert found == ("perday" in text.replace("_", "").replace("-", "").lower())
    limited = RateLimited("x", code=text)
    assert limited.retryable is not found and isinstance(limited, ProviderError)


@given(st.sampled_from(["PerDay", "perday", "PER_DAY", "per-day"]), st.text(max_size=20))
def test_a_daily_quota_is_found_whatever_the_spelling(word: str, around: str) -> None:
    assert names_daily_quota(around + word + around)
    assert not RateLimited("x", code=around + word).retryable


@given(st.text(max_size=30))
def test_a_name_is_a_known_kind_or_nothing(name: str) -> None:
    found = named(name)
    assert found is None or found.kind == name


def test_every_named_kind_and_outcome_is_declared_on_its_class() -> None:
    for name, cls in NAMED.items():
        assert "kind" in vars(cls) and cls.kind == name
    assert "error" in OUTCOMES and len(set(OUTCOMES)) == len(OUTCOMES)
    # subclasses inherit: a stream timeout is an attempt timeout in files and in metrics
    from genguard.errors import IncompleteStream, StreamTimeout

    assert StreamTimeout.kind == AttemptTimeout.kind and StreamTimeout.outcome == "timeout"
    assert IncompleteStream.kind == "unavailable"


def test_an_application_subclass_inherits_its_parent_label() -> None:
    class MyLimit(RateLimited):
        pass

    class Odd(GenGuardError):
        outcome = "not-a-known-label"

    assert outcome_of(MyLimit("x")) == "rate_limited"
    assert outcome_of(Odd("x")) == "error"  # labels stay the documented, bounded set


def test_foreign_exceptions_have_fixed_facts() -> None:
    assert counts_against_breaker(ConnectionResetError())
    assert not counts_against_breaker(ValueError()) and not is_retryable(ConnectionResetError())
    assert not counts_against_breaker(asyncio.CancelledError())
    assert not is_retryable(AuthenticationError("x", status=409))  # declared: never retried


# -- the rate limiter's refund reads ``billing`` -----------------------------------------------
@pytest.mark.parametrize(
    ("reply", "given_back"),
    [
        (Reply.status(503), True),  # answered with an error: billing "rejected"
        (Reply.status(400, message="bad size"), True),
        (Reply.truncated(), False),  # a 200 whose body was lost: billing "uncertain"
    ],
    ids=["503", "400", "lost-answer"],
)
async def test_the_limiter_gives_images_back_when_the_billing_fact_says_none_were_made(
    reply: Reply, given_back: bool
) -> None:
    clock = FakeClock()
    layer = RateLimitLayer(images="10/min")  # n=10 books the key's whole minute
    async with Simulator() as sim:
        sim.script("openai", [reply])
        provider = OpenAIProvider("sk-sim-key-openai-0123", base_url=sim.base_url)
        async with Client(provider, [layer], deadline=2.0, clock=clock) as client:
            with pytest.raises(GenGuardError) as first:
                await client.generate(PROMPT, n=10)
            assert first.value.billing == ("uncertain" if not given_back else "rejected")
            if given_back:
                assert (await client.generate(PROMPT, n=1)).images
            else:
                with pytest.raises(RateLimited) as refused:
                    await client.generate(PROMPT, n=1)
                assert refused.value.scope == "client"
        assert len(sim.log) == (2 if given_back else 1)
