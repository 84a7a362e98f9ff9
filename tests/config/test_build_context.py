"""The build context: one exit stack owns everything the factory starts for a client."""

from __future__ import annotations

from genguard.config import Pipeline, build_client
from genguard.factory import BuildContext


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

    class Resource:
        def __init__(self, name: str) -> None:
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    class SyncResource:
        def close(self) -> None:
            closed.append("sync")

    context = BuildContext()
    context.own(Resource("first"))
    context.own(SyncResource())
    context.own(Resource("last"))
    await context.resources.aclose()
    assert closed == ["last", "sync", "first"]


def test_a_failed_build_closes_what_needs_no_loop() -> None:
    closed: list[str] = []

    class Server:
        def close(self) -> None:
            closed.append("server")

    context = BuildContext()
    context.own(Server())
    context.abandon()
    assert closed == ["server"]
