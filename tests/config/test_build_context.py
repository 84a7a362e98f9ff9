"""The build context: one exit stack owns everything the factory starts for a client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from genguard.config import Pipeline, build_client
from genguard.core import Handler, Scope
from genguard.factory import BuildContext
from genguard.model import Call, GenerationResult
from genguard.pipeline import Client
from genguard.providers.static import StaticProvider
from genguard.state.resource import AsyncResource


async def test_the_exit_stack_owns_the_simulator_and_the_session() -> None:
    profile = Pipeline.builder("p").provider("sim").deadline("10s").retry(attempts=2).build_config()
    client = build_client(profile)
    assert isinstance(client.context, BuildContext)
    assert client.context.transport is client.transport
    async with client:
        sim = client.simulator
        assert sim is not None  # started eagerly by the context on entry
        assert (await client.generate("a lighthouse")).images
        session = client.transport.session
        assert session is not None and not session.closed
    assert client.simulator is None  # the stack stopped it
    assert session.closed and client.transport.session is None


async def test_resources_close_in_reverse_order_of_building() -> None:
    closed: list[str] = []

    class Resource(AsyncResource):
        def __init__(self, name: str) -> None:
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    context = BuildContext()
    first = context.own(Resource("first"))
    context.own(Resource("second"))
    context.own(Resource("last"))
    assert first.name == "first"  # own hands the resource back, typed
    await context.resources.aclose()
    assert closed == ["last", "second", "first"]
    assert context.transport.closed  # the transport is the stack's too


async def test_starts_run_on_entry_in_order_first_ones_first() -> None:
    started: list[str] = []

    def start(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            started.append(name)

        return run

    context = BuildContext()
    context.on_enter(start("fallback sim"))
    context.on_enter(start("primary sim"), first=True)
    await context.start()
    assert started == ["primary sim", "fallback sim"]
    await context.resources.aclose()


def test_a_failed_build_closes_what_needs_no_loop() -> None:
    closed: list[str] = []
    context = BuildContext()
    context.on_abandon(lambda: closed.append("server"))
    context.abandon()
    assert closed == ["server"]


async def test_client_closes_only_resources_and_every_one_despite_a_failure() -> None:
    """Layers that are async context managers are closed, last first; a failing one does
    not keep the others (or the transport) open."""
    closed: list[str] = []

    class Holds(AsyncResource):
        scope: Scope = "call"

        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        async def __call__(self, call: Call, next: Handler) -> GenerationResult:
            return await next(call)

        async def aclose(self) -> None:
            closed.append(self.name)
            if self.fail:
                raise RuntimeError("release failed")

    class Plain:
        scope: Scope = "call"

        async def __call__(self, call: Call, next: Handler) -> GenerationResult:
            return await next(call)

    client = Client(StaticProvider(), [Holds("outer"), Plain(), Holds("inner", fail=True)])
    with pytest.raises(RuntimeError, match="release failed"):
        async with client:
            session = await client.transport.open()
    assert closed == ["inner", "outer"]
    assert session.closed
