"""A stream goes through the same layers as ``generate``: once per call, attempts per stream.

Telemetry sees time to first partial and the partial count; safety refuses a
prompt before anything is sent; the attempt timeout does not cut a stream that
keeps its own timers; leaving early cancels the HTTP request.
"""

from __future__ import annotations

import asyncio
import gc

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from stream_support import APIS, Api, drain, kinds, make_client, virtual_clock

from genguard import Client, RecordingObserver
from genguard.demo import default_stack
from genguard.errors import ContentBlocked
from genguard.layers.retry import RetryLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.static import StaticProvider
from genguard.sim import Simulator
from genguard.sim.replies import Reply
from genguard.streaming import Completed, PartialImage, Restarted, StreamOptions


def _metric_points(reader: InMemoryMetricReader, name: str) -> list[object]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


@pytest.mark.parametrize("api", APIS)
async def test_telemetry_records_time_to_first_partial_and_partials(api: Api) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = TelemetryLayer(
        tracer_provider=tracer_provider, meter_provider=meter_provider, logs=False
    )
    clock = virtual_clock()
    layers = [telemetry, RetryLayer(initial=0.5, max_delay=1.0)]
    try:
        async with Simulator(clock=clock) as sim:
            sim.script(
                api,
                [
                    Reply.stream(partials=1, first_event=4.0, fault="drop"),
                    Reply.stream(partials=2, first_event=3.0),
                ],
            )
            async with make_client(sim, api, layers, clock=clock) as client:
                events, error = await drain(client.stream("a lighthouse"))
        assert error is None
        assert kinds(events).count("PartialImage") == 3
        (call_span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("generate")]
        attributes = call_span.attributes or {}
        assert attributes["genguard.stream.partials"] == 3
        assert attributes["genguard.stream.restarts"] == 1
        assert attributes["genguard.stream.time_to_first_partial"] == pytest.approx(4.0)
        assert attributes["genguard.attempts"] == 2
        names = [e.name for e in call_span.events] + [
            e.name for s in exporter.get_finished_spans() for e in s.events
        ]
        assert "genguard.stream.partial" in names and "genguard.stream.restarted" in names
        (partials,) = _metric_points(reader, "genguard.stream.partials")
        assert partials.value == 3  # type: ignore[attr-defined]
        (first,) = _metric_points(reader, "genguard.stream.time_to_first_partial")
        assert first.count == 1 and first.sum == pytest.approx(4.0)  # type: ignore[attr-defined]
        (restarts,) = _metric_points(reader, "genguard.stream.restarts")
        assert restarts.value == 1  # type: ignore[attr-defined]
        assert restarts.attributes["genguard.stream.restart_reason"] == "IncompleteStream"  # type: ignore[attr-defined]
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.mark.parametrize("api", APIS)
async def test_observer_sees_one_call_and_each_attempt(api: Api) -> None:
    recorder = RecordingObserver()
    clock = virtual_clock()
    async with Simulator(clock=clock) as sim:
        sim.script(api, [Reply.stream(partials=1, fault="cut"), Reply.stream(partials=2)])
        layers = [RetryLayer(initial=0.5, max_delay=1.0)]
        async with make_client(sim, api, layers, clock=clock, observer=recorder) as client:
            events, error = await drain(client.stream("x"))
    assert error is None
    names = recorder.names()
    assert names.count("call_started") == 1 and names.count("call_finished") == 1
    assert names.count("attempt_started") == 2
    assert [(e["attempt"], e["index"]) for e in recorder.of("stream_partial")] == [
        (1, 0),
        (2, 0),
        (2, 1),
    ]
    (restart,) = recorder.of("stream_restarted")
    assert restart["attempt"] == 2 and restart["discarded"] == 1
    (finished,) = recorder.of("call_finished")
    final = events[-1]
    assert isinstance(final, Completed) and finished["result"] is final.result


@pytest.mark.parametrize("api", APIS)
async def test_safety_refuses_before_anything_is_sent(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api, default_stack()) as client:
        events, error = await drain(client.stream("a decapitated knight"))
        assert events == []
        assert isinstance(error, ContentBlocked) and error.stage == "input"
        assert sim.log == []
        sim.script(api, [Reply.stream(partials=2)])
        events, error = await drain(client.stream("a knight on a horse"))
        assert error is None and kinds(events) == ["PartialImage", "PartialImage", "Completed"]


@pytest.mark.parametrize("api", APIS)
async def test_attempt_timeout_leaves_a_long_stream_to_its_own_timers(api: Api) -> None:
    clock = virtual_clock()
    layers = [TimeoutLayer(attempt=0.05)]  # real seconds: a stream must not be cut by it
    async with (
        Simulator(clock=clock) as sim,
        make_client(sim, api, layers, clock=clock) as client,
    ):
        sim.script(api, [Reply.stream(partials=3, first_event=20.0, gap=20.0)])
        events, error = await drain(client.stream("x", settings=StreamOptions(idle=30.0)))
    assert error is None and kinds(events)[-1] == "Completed"


async def test_a_provider_that_cannot_stream_yields_just_the_result() -> None:
    async with Client(StaticProvider()) as client:
        events, error = await drain(client.stream("x"))
    assert error is None and kinds(events) == ["Completed"]


def _others(baseline: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t not in baseline and not t.done()}


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.mark.parametrize("api", APIS)
async def test_leaving_early_cancels_the_request(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        baseline = set(asyncio.all_tasks())
        sim.script(api, [Reply.stream(partials=2, gap=3600.0)])
        async with client.stream("x") as stream:
            async for event in stream:
                assert isinstance(event, PartialImage)
                break
        assert stream.result is None
        await _settle()
        # the stream's task ended, and the server's handler was cancelled with it
        assert _others(baseline) == set()


@pytest.mark.parametrize("api", APIS)
async def test_cancelling_the_consumer_cancels_the_call(api: Api) -> None:
    async with Simulator() as sim, make_client(sim, api) as client:
        baseline = set(asyncio.all_tasks())
        sim.script(api, [Reply.stream(partials=1, gap=3600.0)])
        stream = client.stream("x")
        seen = asyncio.Event()

        async def consume() -> None:
            async for _ in stream:
                seen.set()

        task = asyncio.create_task(consume())
        await seen.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _settle()
        assert _others(baseline) == set()


async def test_dropping_an_abandoned_stream_cancels_its_call() -> None:
    async with Simulator() as sim, make_client(sim, "openai") as client:
        baseline = set(asyncio.all_tasks())
        sim.script("openai", [Reply.stream(partials=2, gap=3600.0)])
        stream = client.stream("x")
        async for _ in stream:
            break  # no ``async with``: nothing closes it but the garbage collector
        del stream
        gc.collect()
        await _settle()
        assert _others(baseline) == set()


@pytest.mark.parametrize("api", APIS)
async def test_the_call_deadline_bounds_a_stream(api: Api) -> None:
    from genguard import GenerationRequest
    from genguard.errors import DeadlineExceeded

    clock = virtual_clock()
    layers = [TimeoutLayer(attempt=600.0)]  # no retry layer: the stream's own timer must do it
    async with (
        Simulator(clock=clock) as sim,
        make_client(sim, api, layers, clock=clock) as client,
    ):
        sim.script(api, [Reply.stream(partials=1, first_event=100.0)])
        started = clock.now()
        request = GenerationRequest(prompt="x", deadline=40.0)
        events, error = await drain(client.stream(request, settings=StreamOptions(idle=None)))
    assert events == []
    assert isinstance(error, DeadlineExceeded)
    assert clock.now() - started == pytest.approx(40.0)


async def test_a_fallback_after_partials_says_the_generation_restarted() -> None:
    from genguard.layers.fallback import FallbackLayer, FallbackTarget
    from genguard.providers.gemini import GeminiProvider

    async with Simulator() as sim:
        sim.script("openai", [Reply.stream(partials=2, fault="drop")])
        target = FallbackTarget(GeminiProvider("sim-key", base_url=sim.base_url))
        async with make_client(sim, "openai", [FallbackLayer([target])]) as client:
            events, error = await drain(client.stream("x"))
    assert error is None
    assert kinds(events) == ["PartialImage", "PartialImage", "Restarted", "Completed"]
    restarted = events[2]
    assert isinstance(restarted, Restarted) and restarted.discarded == 2
    final = events[-1]
    assert isinstance(final, Completed) and final.result.provider == "gemini"


async def test_request_options_and_stream_settings_do_not_mix() -> None:
    async with Client(StaticProvider()) as client:
        stream = client.stream("x", options={"quality": "high"})  # a request field
        assert stream.call.request.options == {"quality": "high"}
        await stream.aclose()
        with pytest.raises(TypeError):
            client.stream("x", settings={"idle": 30})  # type: ignore[arg-type]


async def test_a_stream_starts_its_clock_when_it_is_first_read() -> None:
    from genguard import FakeClock

    clock = FakeClock()
    async with Client(StaticProvider(), clock=clock, deadline=60.0) as client:
        stream = client.stream("x")
        clock.advance(45.0)  # made, then read later
        result = await stream.final()
    assert stream.call.deadline == pytest.approx(stream.call.started_at + 60.0)
    assert result.latency == pytest.approx(0.0)
