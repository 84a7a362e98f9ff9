"""The fallback layer, with in-process providers (no network)."""

from __future__ import annotations

import asyncio

import pytest

from genguard import Client, GenerationRequest
from genguard.clock import FakeClock
from genguard.errors import (
    AuthenticationError,
    BadRequest,
    ConfigError,
    ContentBlocked,
    DeadlineExceeded,
    ProviderUnavailable,
    RateLimited,
)
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.model import Call, GenerationResult
from genguard.observe import RecordingObserver
from genguard.pipeline import Handler, Scope
from genguard.providers.static import ScriptedProvider, StaticProvider
from genguard.providers.transport import HttpTransport
from genguard.state.resource import AsyncResource


def down(name: str = "gemini", model: str = "gemini-2.5-flash-image") -> ScriptedProvider:
    return ScriptedProvider([ProviderUnavailable("503", status=503)], name=name, model=model)


class Seen:
    """An attempt-scoped layer that records the call labels it sees."""

    scope: Scope = "attempt"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str | None]] = []

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        self.seen.append((call.provider, call.model, call.key, call.request.model))
        return await next(call)


async def test_primary_unavailable_is_served_by_the_secondary_and_the_result_says_so() -> None:
    recorder = RecordingObserver()
    secondary = StaticProvider(name="openai", model="gpt-image-1")
    seen = Seen()
    fallback = FallbackLayer([FallbackTarget(secondary, [seen])])
    async with Client(down(), [fallback], observer=recorder) as client:
        result = await client.generate(GenerationRequest(prompt="a fox", model="gemini-x"))
    assert (result.provider, result.model) == ("openai", "gpt-image-1")
    assert secondary.calls == 1
    # The call was re-labelled for the target, and the primary's model override dropped.
    assert seen.seen == [("openai", "gpt-image-1", "openai/gpt-image-1", None)]
    assert recorder.of("fallback_used") == [
        {"from_key": "gemini/gemini-x", "to_key": "openai/gpt-image-1", "reason": "unavailable"}
    ]
    assert result.attempts == 2  # one primary attempt, one on the target


async def test_a_cheaper_model_of_the_same_provider_is_a_target_too() -> None:
    provider = StaticProvider(name="gemini", model="gemini-2.5-flash-image")
    fallback = FallbackLayer([FallbackTarget(provider, model="gemini-2.0-flash-lite")])
    async with Client(down(), [fallback]) as client:
        result = await client.generate("a fox")
    assert (result.provider, result.model) == ("gemini", "gemini-2.0-flash-lite")


async def test_an_open_breaker_on_the_primary_routes_without_touching_it() -> None:
    primary = down()
    recorder = RecordingObserver()
    breaker = CircuitBreakerLayer(fail_max=2, reset_timeout=60)
    fallback = FallbackLayer([FallbackTarget(StaticProvider(name="openai", model="gpt-image-1"))])
    async with Client(primary, [fallback, breaker], observer=recorder) as client:
        results = [await client.generate("a fox") for _ in range(10)]
    assert {(r.provider, r.model) for r in results} == {("openai", "gpt-image-1")}
    assert primary.calls == 2  # tripped after two, then shed
    reasons = [e["reason"] for e in recorder.of("fallback_used")]
    assert reasons == ["unavailable"] * 2 + ["circuit_open"] * 8


async def test_targets_are_tried_in_order_and_the_last_error_is_raised_with_the_route() -> None:
    third = StaticProvider(name="third", model="m3")
    fallback = FallbackLayer([FallbackTarget(down("openai", "gpt-image-1")), FallbackTarget(third)])
    async with Client(down(), [fallback]) as client:
        assert (await client.generate("x")).provider == "third"

    fallback = FallbackLayer([FallbackTarget(down("openai", "gpt-image-1"))])
    async with Client(down(), [fallback]) as client:
        with pytest.raises(ProviderUnavailable) as info:
            await client.generate("x")
    assert any(
        "gemini/gemini-2.5-flash-image -> openai/gpt-image-1" in n for n in info.value.__notes__
    )


@pytest.mark.parametrize(
    "error",
    [
        ContentBlocked("blocked", stage="input", category="violence", source="provider"),
        ContentBlocked("blocked", stage="output", category="sexual", source="classifier"),
        BadRequest("bad size", status=400),
        AuthenticationError("bad key", status=401),
    ],
)
async def test_blocks_and_caller_errors_are_not_routed(error: Exception) -> None:
    secondary = StaticProvider(name="openai")
    fallback = FallbackLayer([FallbackTarget(secondary)])
    async with Client(ScriptedProvider([error]), [fallback]) as client:
        with pytest.raises(type(error)):
            await client.generate("x")
    assert secondary.calls == 0


async def test_a_content_block_from_a_target_is_not_routed_further() -> None:
    blocked = ScriptedProvider(
        [ContentBlocked("no", stage="output", category="x", source="provider")], name="openai"
    )
    last = StaticProvider(name="third")
    fallback = FallbackLayer([FallbackTarget(blocked), FallbackTarget(last)])
    async with Client(down(), [fallback]) as client:
        with pytest.raises(ContentBlocked):
            await client.generate("x")
    assert last.calls == 0


def test_content_blocks_cannot_be_configured_as_routable() -> None:
    target = FallbackTarget(StaticProvider())
    with pytest.raises(ConfigError) as info:
        FallbackLayer([target], on=["unavailable", ContentBlocked])
    assert info.value.path == "fallback.on[1]"
    with pytest.raises(ConfigError, match="unknown error"):
        FallbackLayer([target], on=["nope"])
    with pytest.raises(ConfigError):
        FallbackLayer([])


async def test_on_chooses_what_is_routed() -> None:
    secondary = StaticProvider(name="openai")
    fallback = FallbackLayer([FallbackTarget(secondary)], on=["circuit_open"])
    async with Client(down(), [fallback]) as client:
        with pytest.raises(ProviderUnavailable):
            await client.generate("x")
    rate_limited = ScriptedProvider([RateLimited("429", retry_after=3)])
    fallback = FallbackLayer([FallbackTarget(secondary)], on=[RateLimited, "bad_request"])
    async with Client(rate_limited, [fallback]) as client:
        assert (await client.generate("x")).provider == "openai"


class Deadline:
    """Raises DeadlineExceeded (as a retry layer that ran out of time would)."""

    scope: Scope = "call"

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        raise DeadlineExceeded("retry gave up: next backoff passes the deadline", attempts=3)


async def test_deadline_pressure_is_routed_only_while_time_is_left() -> None:
    clock = FakeClock()
    secondary = StaticProvider(name="openai")
    fallback = FallbackLayer([FallbackTarget(secondary)], min_remaining=5)
    async with Client(StaticProvider(), [fallback, Deadline()], clock=clock, deadline=60) as client:
        assert (await client.generate("x")).provider == "openai"
        with pytest.raises(DeadlineExceeded):
            await client.generate("x", deadline=4)  # less than min_remaining left


async def test_cancellation_is_not_routed() -> None:
    started = asyncio.Event()

    class Hang:
        name, model = "gemini", "g"

        async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    secondary = StaticProvider(name="openai")
    async with Client(Hang(), [FallbackLayer([FallbackTarget(secondary)])]) as client:
        task = asyncio.create_task(client.generate("x"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert secondary.calls == 0


class Closable(AsyncResource):
    scope: Scope = "attempt"

    def __init__(self) -> None:
        self.closed = False

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        return await next(call)

    async def aclose(self) -> None:
        self.closed = True


class SeesTransport(StaticProvider):
    """A static provider that records the transport each attempt is sent on."""

    def __init__(self) -> None:
        super().__init__()
        self.transports: list[HttpTransport] = []

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        self.transports.append(transport)
        return await super().send(call, transport)


async def test_aclose_closes_target_layers_and_the_layer_owns_no_transport() -> None:
    layer = Closable()
    target = SeesTransport()
    own = FallbackLayer([FallbackTarget(target, [layer])])
    assert own.transport is None
    async with Client(down("static", "static-1"), [own]) as client:
        await client.generate("a harbour")
        # The target sent on the running client's transport: one session per client.
        assert target.transports == [client.transport]
    assert layer.closed

    async with Client(StaticProvider()) as client:
        shared = FallbackLayer([FallbackTarget(StaticProvider())], transport=client.transport)
        await shared.aclose()
        assert client.transport.session is not None and not client.transport.session.closed
    assert "static/static-1" in repr(shared)


async def test_a_ready_built_route_is_used_as_given() -> None:
    target = SeesTransport()
    transport = HttpTransport()
    route = FallbackTarget(target).route(transport)
    async with Client(down("static", "static-1"), [FallbackLayer([route])]) as client:
        await client.generate("a harbour")
    assert target.transports == [transport]
