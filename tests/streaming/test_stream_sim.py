"""Streams over real HTTP against the simulator, both APIs, timers on one virtual clock.

The simulator sleeps on the same ``FakeClock`` as the client, so a minute-long
generation with partials every 20 s plays out in milliseconds, and the
timeouts fire at exact virtual instants.
"""

from __future__ import annotations

import random

import pytest
from stream_support import APIS, Api, drain, kinds, make_client, virtual_clock

from genguard import GenerationRequest
from genguard.billing import ResubmitPolicy
from genguard.errors import (
    IncompleteStream,
    InvalidRequest,
    MalformedStreamEvent,
    ProviderUnavailable,
    RateLimited,
    StreamTimeout,
)
from genguard.layers.retry import RetryLayer
from genguard.sim import Simulator
from genguard.sim.replies import Reply
from genguard.streaming import Completed, PartialImage, Restarted, StreamOptions


def retry(**options: object) -> RetryLayer:
    options.setdefault("initial", 0.5)
    options.setdefault("max_delay", 1.0)
    options.setdefault("rng", random.Random(1))
    return RetryLayer(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("api", APIS)
async def test_partials_then_completed(api: Api) -> None:
    async with Simulator() as sim:
        sim.script(api, [Reply.stream(partials=3)])
        async with make_client(sim, api) as client:
            events, error = await drain(client.stream("a lighthouse at dusk"))
        assert error is None
        assert kinds(events) == ["PartialImage"] * 3 + ["Completed"]
        partials = [e for e in events if isinstance(e, PartialImage)]
        assert [p.index for p in partials] == [0, 1, 2]
        assert all(p.attempt == 1 and p.image.data.startswith(b"\x89PNG") for p in partials)
        final = events[-1]
        assert isinstance(final, Completed)
        assert final.result.image.data.startswith(b"\x89PNG")
        assert final.result.image.data not in {p.image.data for p in partials}
        assert final.result.usage.output_tokens  # usage came with the completed event
        (record,) = sim.log
        if api == "openai":
            assert record.body["stream"] is True and record.body["partial_images"] == 2
        else:
            assert record.path.endswith(":streamGenerateContent")


async def test_openai_partial_images_option_is_sent_and_bounded() -> None:
    async with Simulator() as sim, make_client(sim, "openai") as client:
        events, error = await drain(client.stream("x", settings=StreamOptions(partial_images=1)))
        assert error is None and kinds(events) == ["PartialImage", "Completed"]
        assert sim.log[-1].body["partial_images"] == 1
        requests = len(sim.log)
        bad = GenerationRequest(prompt="x", options={"partial_images": 5})
        events, error = await drain(client.stream(bad))
        assert events == [] and isinstance(error, InvalidRequest)  # the catalogue's check
        assert error.field == "options.partial_images" and error.allowed == ("0", "1", "2", "3")
        assert len(sim.log) == requests  # refused before sending


async def test_openai_edit_streams_image_edit_events() -> None:
    from genguard import Image
    from genguard.sim import encode_png

    png = encode_png(8, 8, (10, 20, 30))
    request = GenerationRequest(prompt="add a hat", images=(Image(png),))
    async with Simulator() as sim, make_client(sim, "openai") as client:
        events, error = await drain(client.stream(request))
    assert error is None
    assert kinds(events) == ["PartialImage", "PartialImage", "Completed"]
    assert sim.log[-1].path == "/v1/images/edits"
    assert sim.log[-1].body["fields"]["stream"] == "true"


async def test_gemini_thought_images_are_partials() -> None:
    async with (
        Simulator() as sim,
        make_client(sim, "gemini", model="gemini-3-pro-image") as client,
    ):
        events, error = await drain(client.stream("a fox"))
    assert error is None
    assert kinds(events) == ["PartialImage", "Completed"]
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.result.thought_signatures  # merged chunks keep the signatures
    assert final.result.finish_reason == "STOP"


# -- faults, both APIs --------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_drop_before_completed_is_typed_and_keeps_partials(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        sim.script(api, [Reply.stream(partials=2, fault="drop")])
        events, error = await drain(client.stream("x"))
    assert kinds(events) == ["PartialImage", "PartialImage"]
    assert isinstance(error, IncompleteStream)
    assert error.reason == "ended_without_completed"
    assert [p.data for p in error.partials] == [
        e.image.data for e in events if isinstance(e, PartialImage)
    ]


@pytest.mark.parametrize("api", APIS)
async def test_cut_mid_event_is_typed(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        sim.script(api, [Reply.stream(partials=1, fault="cut")])
        stream = client.stream("x")
        events, error = await drain(stream)
    assert kinds(events) == ["PartialImage"]
    assert isinstance(error, IncompleteStream)
    assert error.reason == "cut_mid_event"
    assert len(error.partials) == 1
    assert stream.partials[0].image.data == error.partials[0].data


@pytest.mark.parametrize("api", APIS)
async def test_malformed_event_is_typed(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        sim.script(api, [Reply.stream(partials=1, fault="malformed")])
        events, error = await drain(client.stream("x"))
    assert kinds(events) == ["PartialImage"]
    assert isinstance(error, MalformedStreamEvent)
    assert len(error.partials) == 1 and error.events >= 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("code", "kind"), [(500, ProviderUnavailable), (429, RateLimited)])
async def test_error_event_is_mapped_like_an_error_response(
    api: Api, code: int, kind: type[Exception]
) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        sim.script(api, [Reply.stream(partials=1, fault="error", error_code=code)])
        stream = client.stream("x")
        events, error = await drain(stream)
    assert kinds(events) == ["PartialImage"]
    assert isinstance(error, kind)
    assert len(stream.partials) == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("code", [429, 503])
async def test_status_before_the_stream_is_retried_like_any_attempt(api: Api, code: int) -> None:
    clock = virtual_clock()
    async with Simulator(clock=clock) as sim:
        sim.script(api, [Reply.status(code, retry_after="2"), Reply.stream(partials=1)])
        async with make_client(sim, api, [retry()], clock=clock) as client:
            started = clock.now()
            stream = client.stream("x")
            events, error = await drain(stream)
    assert error is None
    assert kinds(events) == ["PartialImage", "Completed"]  # no Restarted: nothing was shown
    assert [r.status for r in sim.log] == [code, 200]
    assert clock.now() - started >= 2.0  # the server's hint was obeyed, on the virtual clock
    final = events[-1]
    assert isinstance(final, Completed) and final.result.attempts == 2


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("code", [429, 503])
async def test_status_before_the_stream_is_typed_without_retry(api: Api, code: int) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        sim.script(api, [Reply.status(code)])
        events, error = await drain(client.stream("x"))
    assert events == []
    assert isinstance(error, RateLimited if code == 429 else ProviderUnavailable)


# -- timeouts on the virtual clock ----------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_slow_first_event_hits_the_first_event_timeout(api: Api) -> None:
    clock = virtual_clock()
    options = StreamOptions(first_event=30.0, idle=None, total=None)
    async with Simulator(clock=clock) as sim, make_client(sim, api, clock=clock) as client:
        sim.script(api, [Reply.stream(partials=1, first_event=45.0)])
        started = clock.now()
        events, error = await drain(client.stream("x", settings=options))
    assert events == []
    assert isinstance(error, StreamTimeout)
    assert (error.phase, error.timeout) == ("first_event", 30.0)
    assert clock.now() - started == pytest.approx(30.0)
    assert error.retryable  # nothing was shown: an ordinary retry may follow


@pytest.mark.parametrize("api", APIS)
async def test_slow_first_event_within_the_limit_succeeds(api: Api) -> None:
    clock = virtual_clock()
    options = StreamOptions(first_event=60.0, idle=None)
    async with Simulator(clock=clock) as sim, make_client(sim, api, clock=clock) as client:
        sim.script(api, [Reply.stream(partials=1, first_event=45.0)])
        events, error = await drain(client.stream("x", settings=options))
    assert error is None and kinds(events) == ["PartialImage", "Completed"]
    first = events[0]
    assert isinstance(first, PartialImage) and first.elapsed == pytest.approx(45.0)


@pytest.mark.parametrize("api", APIS)
async def test_stall_between_partials_hits_the_idle_timeout(api: Api) -> None:
    clock = virtual_clock()
    options = StreamOptions(idle=30.0, total=None)
    async with Simulator(clock=clock) as sim, make_client(sim, api, clock=clock) as client:
        sim.script(api, [Reply.stream(partials=3, gap=5.0, stall=40.0, stall_after=2)])
        events, error = await drain(client.stream("x", settings=options))
    assert kinds(events) == ["PartialImage", "PartialImage"]
    assert isinstance(error, StreamTimeout) and error.phase == "idle"
    assert len(error.partials) == 2


@pytest.mark.parametrize("api", APIS)
async def test_headers_that_never_come_hit_the_connect_timeout(api: Api) -> None:
    clock = virtual_clock()
    options = StreamOptions(connect=5.0)
    async with Simulator(clock=clock) as sim, make_client(sim, api, clock=clock) as client:
        sim.script(api, [Reply.stream(before_headers=20.0)])
        started = clock.now()
        events, error = await drain(client.stream("x", settings=options))
    assert events == []
    assert isinstance(error, StreamTimeout) and error.phase == "connect"
    assert clock.now() - started == pytest.approx(5.0)


@pytest.mark.parametrize("api", APIS)
async def test_total_timeout_bounds_a_lively_stream(api: Api) -> None:
    clock = virtual_clock()
    options = StreamOptions(idle=30.0, total=50.0)
    async with Simulator(clock=clock) as sim, make_client(sim, api, clock=clock) as client:
        sim.script(api, [Reply.stream(partials=3, first_event=20.0, gap=20.0)])
        events, error = await drain(client.stream("x", settings=options))
    assert kinds(events) == ["PartialImage", "PartialImage"]  # at 20 s and 40 s
    assert isinstance(error, StreamTimeout) and error.phase == "total"


@pytest.mark.parametrize("api", APIS)
async def test_90s_generation_with_partials_every_20s_survives_a_30s_idle_timeout(
    api: Api,
) -> None:
    clock = virtual_clock()
    options = StreamOptions(idle=30.0, first_event=None, total=None)
    # drafts at 10, 30, 50 and 70 s, the image at 90 s: never 30 s without an event
    lively = Reply.stream(partials=4, first_event=10.0, gap=20.0)
    silent = Reply.stream(partials=0, first_event=90.0)
    async with Simulator(clock=clock) as sim, make_client(sim, api, clock=clock) as client:
        sim.script(api, [lively])
        started = clock.now()
        events, error = await drain(client.stream("a long generation", settings=options))
        took = clock.now() - started
        assert error is None
        assert kinds(events) == ["PartialImage"] * 4 + ["Completed"]
        assert [e.elapsed for e in events if isinstance(e, PartialImage)] == pytest.approx(
            [10.0, 30.0, 50.0, 70.0]
        )
        assert took == pytest.approx(90.0)

        sim.script(api, [silent])
        started = clock.now()
        events, error = await drain(client.stream("a long generation", settings=options))
        assert events == []
        assert isinstance(error, StreamTimeout)
        assert (error.phase, error.timeout) == ("idle", 30.0)
        assert clock.now() - started == pytest.approx(30.0)


# -- restarts -------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_failure_after_a_partial_restarts_once_and_says_so(api: Api) -> None:
    clock = virtual_clock()
    async with Simulator(clock=clock) as sim:
        sim.script(api, [Reply.stream(partials=2, fault="drop"), Reply.stream(partials=2)])
        async with make_client(sim, api, [retry()], clock=clock) as client:
            stream = client.stream("x")
            events, error = await drain(stream)
    assert error is None
    assert kinds(events) == [
        "PartialImage",
        "PartialImage",
        "Restarted",
        "PartialImage",
        "PartialImage",
        "Completed",
    ]
    restarted = events[2]
    assert isinstance(restarted, Restarted)
    assert (restarted.attempt, restarted.reason, restarted.discarded) == (
        2,
        "IncompleteStream",
        2,
    )
    assert [e.attempt for e in events if isinstance(e, PartialImage)] == [1, 1, 2, 2]
    assert stream.restarts == 1 and len(sim.log) == 2


@pytest.mark.parametrize("api", APIS)
async def test_second_failure_after_partials_is_not_restarted_again(api: Api) -> None:
    clock = virtual_clock()
    async with Simulator(clock=clock) as sim:
        sim.script(api, [Reply.stream(partials=1, fault="drop")] * 3)
        async with make_client(sim, api, [retry(attempts=5)], clock=clock) as client:
            events, error = await drain(client.stream("x"))
    assert kinds(events) == ["PartialImage", "Restarted", "PartialImage"]
    assert isinstance(error, IncompleteStream)
    # each failed stream was possibly billed: the default resubmit policy allows one
    assert error.cost is not None and error.cost.possibly_billed > 0
    assert len(sim.log) == 2 and len(sim.ledger) == 2


@pytest.mark.parametrize("api", APIS)
async def test_resubmit_never_means_no_restart(api: Api) -> None:
    clock = virtual_clock()
    async with Simulator(clock=clock) as sim:
        sim.script(api, [Reply.stream(partials=1, fault="cut"), Reply.stream()])
        layers = [retry(resubmit=ResubmitPolicy.never())]
        async with make_client(sim, api, layers, clock=clock) as client:
            events, error = await drain(client.stream("x"))
    assert kinds(events) == ["PartialImage"]
    assert isinstance(error, IncompleteStream)
    assert len(sim.log) == 1


@pytest.mark.parametrize("api", APIS)
async def test_a_rejected_attempt_is_retried_even_when_resubmits_are_off(api: Api) -> None:
    clock = virtual_clock()
    async with Simulator(clock=clock) as sim:
        sim.script(api, [Reply.status(503), Reply.stream(partials=1)])
        layers = [retry(resubmit=ResubmitPolicy.never())]
        async with make_client(sim, api, layers, clock=clock) as client:
            stream = client.stream("x")
            events, error = await drain(stream)
    assert error is None
    assert kinds(events) == ["PartialImage", "Completed"]
    assert stream.restarts == 0 and len(sim.log) == 2


@pytest.mark.parametrize("api", APIS)
async def test_failure_before_any_partial_is_an_ordinary_retry(api: Api) -> None:
    clock = virtual_clock()
    async with Simulator(clock=clock) as sim:
        sim.script(api, [Reply.stream(partials=0, fault="drop"), Reply.stream(partials=1)])
        async with make_client(sim, api, [retry()], clock=clock) as client:
            stream = client.stream("x")
            events, error = await drain(stream)
    assert error is None
    assert kinds(events) == ["PartialImage", "Completed"]
    assert stream.restarts == 0 and len(sim.log) == 2


@pytest.mark.parametrize("api", APIS)
async def test_a_completed_stream_is_billed_like_the_simulator_bills_it(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        sim.script(api, [Reply.stream(partials=2)])
        result = await client.stream("a harbour").final()
    assert result.cost.possibly_billed == 0
    assert result.cost.settled == sim.ledger.total > 0


@pytest.mark.parametrize("api", APIS)
async def test_connection_lost_between_events_is_typed(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        sim.script(api, [Reply.stream(partials=2, fault="lost")])
        events, error = await drain(client.stream("x"))
    assert kinds(events) == ["PartialImage", "PartialImage"]
    assert isinstance(error, IncompleteStream)
    assert error.reason == "connection_lost" and len(error.partials) == 2


async def test_a_gateway_that_ignores_stream_still_gives_the_result() -> None:
    """OpenAI behind a proxy that drops ``stream``/``partial_images``: plain JSON comes back."""
    from genguard.sim.wire import openai_images_usage

    body = {
        "created": 1,
        "data": [{"b64_json": "iVBORw0KGgo="}],
        "usage": openai_images_usage("x", 1),
    }
    async with Simulator() as sim, make_client(sim, "openai") as client:
        sim.script("openai", [Reply.fixture({"status": 200, "body": body})])
        events, error = await drain(client.stream("x"))
    assert error is None and kinds(events) == ["Completed"]
    final = events[0]
    assert isinstance(final, Completed) and final.result.image.data == b"\x89PNG\r\n\x1a\n"


async def test_gemini_stream_without_alt_sse_reads_the_json_array(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``alt=sse`` Gemini answers with one JSON array of chunks; it reads the same."""
    from genguard.providers import gemini_stream

    sse_url = gemini_stream.stream_url
    monkeypatch.setattr(
        gemini_stream, "stream_url", lambda p, m: sse_url(p, m).removesuffix("?alt=sse")
    )
    async with Simulator() as sim, make_client(sim, "gemini", model="gemini-3-pro-image") as client:
        events, error = await drain(client.stream("x"))
    assert error is None
    assert kinds(events) == ["PartialImage", "Completed"]


@pytest.mark.parametrize("api", APIS)
async def test_first_event_timeout_counts_from_the_request_not_the_headers(api: Api) -> None:
    clock = virtual_clock()
    options = StreamOptions(connect=None, first_event=5.0, idle=None, total=None)
    async with Simulator(clock=clock) as sim, make_client(sim, api, clock=clock) as client:
        sim.script(api, [Reply.stream(before_headers=20.0)])
        started = clock.now()
        events, error = await drain(client.stream("x", settings=options))
    assert events == []
    assert isinstance(error, StreamTimeout) and error.phase == "first_event"
    assert clock.now() - started == pytest.approx(5.0)
