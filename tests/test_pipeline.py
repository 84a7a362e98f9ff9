"""The pipeline contract: fold order, the attempt boundary, the client's call context."""

from __future__ import annotations

import asyncio

import pytest

from genguard import Call, Client, GenerationRequest, GenerationResult, RecordingObserver
from genguard.errors import BadRequest, InvalidRequest, ProviderUnavailable
from genguard.model import Image
from genguard.pipeline import Handler, Scope, compose
from genguard.providers.static import ScriptedProvider, StaticProvider
from genguard.state.resource import AsyncResource


class Tag:
    """A layer that records when it runs, to prove the order of the fold."""

    def __init__(self, name: str, trail: list[str], scope: Scope = "call") -> None:
        self.name = name
        self.trail = trail
        self.scope = scope

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        self.trail.append(f"{self.name}>")
        try:
            return await next(call)
        finally:
            self.trail.append(f"<{self.name}")


class RetryTwice:
    """A minimal call-scoped retry, to show the boundary counts attempts for it."""

    scope: Scope = "call"

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        for _ in range(2):
            try:
                return await next(call)
            except ProviderUnavailable:
                pass
        return await next(call)


async def test_layers_run_outermost_first_and_unwind_in_reverse() -> None:
    trail: list[str] = []
    provider = StaticProvider()
    async with Client(
        provider, [Tag("a", trail), Tag("b", trail), Tag("c", trail, "attempt")]
    ) as client:
        await client.generate("a fox")
    assert trail == ["a>", "b>", "c>", "<c", "<b", "<a"]


async def test_compose_binds_once_and_calls_terminal() -> None:
    seen: list[Call] = []

    async def terminal(call: Call) -> GenerationResult:
        seen.append(call)
        return GenerationResult(images=(Image(b"x"),), generation_id="g", provider="p", model="m")

    handler = compose([], terminal)
    client = Client(StaticProvider())
    call = client.new_call(GenerationRequest(prompt="p"))
    result = await handler(call)
    assert result.generation_id == "g"
    assert seen == [call]
    assert call.attempt == 1  # the boundary wraps even an empty stack


async def test_attempt_boundary_counts_each_retry_and_result_reports_it() -> None:
    recorder = RecordingObserver()
    provider = ScriptedProvider([ProviderUnavailable("503"), ProviderUnavailable("503"), None])
    async with Client(provider, [RetryTwice()], observer=recorder) as client:
        result = await client.generate("a fox")
    assert result.attempts == 3
    assert [f["attempt"] for f in recorder.of("attempt_started")] == [1, 2, 3]
    errors = [f["error"] for f in recorder.of("attempt_finished")]
    assert isinstance(errors[0], ProviderUnavailable) and errors[2] is None
    assert recorder.names()[0] == "call_started" and recorder.names()[-1] == "call_finished"


async def test_boundary_sits_after_the_last_call_scoped_layer() -> None:
    trail: list[str] = []
    recorder = RecordingObserver()

    class Mark:
        scope: Scope = "attempt"

        async def __call__(self, call: Call, next: Handler) -> GenerationResult:
            trail.append(f"attempt={call.attempt}")
            return await next(call)

    async with Client(StaticProvider(), [RetryTwice(), Mark()], observer=recorder) as client:
        await client.generate("x")
    assert trail == ["attempt=1"]  # the attempt-scoped layer sees the numbered attempt


async def test_call_context_key_deadline_and_seed_zero(fake_clock) -> None:  # type: ignore[no-untyped-def]
    seen: list[Call] = []

    class Capture:
        scope: Scope = "call"

        async def __call__(self, call: Call, next: Handler) -> GenerationResult:
            seen.append(call)
            return await next(call)

    client = Client(
        StaticProvider(name="gemini", model="m1"), [Capture()], deadline=30, clock=fake_clock
    )
    result = await client.generate("x", seed=0)
    call = seen[0]
    assert call.key == "gemini/m1"
    assert call.deadline == pytest.approx(fake_clock.now() + 30)
    assert call.remaining() == pytest.approx(30)
    assert result.seed == 0
    await client.generate(GenerationRequest(prompt="x", model="m2", deadline=5))
    assert seen[1].key == "gemini/m2" and seen[1].remaining() == pytest.approx(5)
    await client.aclose()


async def test_errors_reach_the_caller_and_the_observer() -> None:
    recorder = RecordingObserver()
    async with Client(ScriptedProvider([BadRequest("nope")]), observer=recorder) as client:
        with pytest.raises(BadRequest):
            await client.generate("x")
    finished = recorder.of("call_finished")[0]
    assert isinstance(finished["error"], BadRequest) and finished["result"] is None


async def test_cancellation_propagates_and_is_reported() -> None:
    recorder = RecordingObserver()
    started = asyncio.Event()

    class Hang:
        scope: Scope = "attempt"

        async def __call__(self, call: Call, next: Handler) -> GenerationResult:
            started.set()
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    async with Client(StaticProvider(), [Hang()], observer=recorder) as client:
        task = asyncio.create_task(client.generate("x"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert isinstance(recorder.of("call_finished")[0]["error"], asyncio.CancelledError)
    assert isinstance(recorder.of("attempt_finished")[0]["error"], asyncio.CancelledError)


async def test_client_closes_layers_and_transport_and_refuses_use_after() -> None:
    closed: list[str] = []

    class Resource(AsyncResource):
        scope: Scope = "call"

        async def __call__(self, call: Call, next: Handler) -> GenerationResult:
            return await next(call)

        async def aclose(self) -> None:
            closed.append("layer")

    client = Client(StaticProvider(), [Resource()])
    async with client:
        session = await client.transport.open()
        assert not session.closed
    assert closed == ["layer"]
    assert session.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.generate("x")


def test_request_validation_gives_typed_errors() -> None:
    with pytest.raises(InvalidRequest, match="n from 1"):
        GenerationRequest(prompt="x", n=0)
    with pytest.raises(InvalidRequest, match="prompt must be a string"):
        GenerationRequest(prompt=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="seed"):
        GenerationRequest(prompt="x", seed="1")  # type: ignore[arg-type]
    assert GenerationRequest(prompt="x", seed=0).seed == 0


def test_request_repr_hides_the_prompt() -> None:
    text = repr(GenerationRequest(prompt="a very secret prompt"))
    assert "secret" not in text and "20 chars" in text
