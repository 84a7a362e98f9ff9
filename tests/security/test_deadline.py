"""Items 4, 5 and 9: the call's deadline holds whatever the stack, CPU-heavy classification
stays off the event loop, and a closed client opens no new session.

Each slow part here is a simulator holding its answer for an hour (``Reply.delay``),
so "the call ended at its deadline" is checked as "the call failed while the server
was still holding its answer" (it captured the request and answered nothing, or
logged the client giving up, 499), never by timing the test.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from genguard import Client, GenerationRequest, RecordingObserver
from genguard.errors import ClientClosed, ContentBlocked, DeadlineExceeded, InvalidRequest
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.transport import HttpTransport
from genguard.safety.chain import ClassifierChain
from genguard.safety.moderation import ModerationClassifier
from genguard.safety.rules import RulesClassifier
from genguard.sim import Reply, Simulator

DEADLINE = 0.3
#: Far beyond any deadline here: the simulator answers only when the test is over.
HOLD = 3600.0


def holding(api: str) -> Simulator:
    """A simulator that holds its answer to every ``api`` request (up to 4 of them)."""
    sim = Simulator(capture=True)
    sim.script(api, [Reply.delay(HOLD)] * 4)
    return sim


def never_answered(sim: Simulator) -> bool:
    """The request arrived, and nothing was sent back (499: the client gave up)."""
    return len(sim.captured) > 0 and all(r.status == 499 for r in sim.log)


async def test_a_stack_without_retry_still_ends_at_its_deadline() -> None:
    async with holding("gemini") as server:
        recorder = RecordingObserver()
        provider = GeminiProvider("k", base_url=server.base_url)
        async with Client(provider, deadline=DEADLINE, observer=recorder) as client:
            with pytest.raises(DeadlineExceeded):
                await client.generate("a cat")
            assert never_answered(server)
    finished = [e for e in recorder.events if e.name == "call_finished"]
    assert isinstance(finished[-1].fields["error"], DeadlineExceeded)


async def _moderation_stack(
    server: Simulator, sim: Simulator, stage: str
) -> tuple[Client, HttpTransport]:
    transport = HttpTransport()
    moderation = ModerationClassifier(
        api_key="k", transport=transport, base_url=server.base_url, timeout=30.0
    )
    chain = ClassifierChain([moderation])
    safety = SafetyLayer(
        input=chain if stage == "input" else None, output=chain if stage == "output" else None
    )
    provider = OpenAIProvider("k", base_url=sim.base_url)
    return Client(provider, [safety], deadline=DEADLINE, transport=transport), transport


@pytest.mark.parametrize("stage", ["input", "output"])
async def test_a_stalled_moderation_classifier_is_under_the_deadline(stage: str) -> None:
    async with holding("moderations") as server, Simulator() as sim:
        client, transport = await _moderation_stack(server, sim, stage)
        async with client:
            with pytest.raises(DeadlineExceeded):
                # A revised prompt is returned text, so the output stage judges it.
                await client.generate("a cat", options={"style": "vivid"}, model="dall-e-3")
            assert never_answered(server)  # the classifier was asked, and held its answer
        await transport.aclose()
    if stage == "input":
        assert sim.log == []


async def test_a_fallback_target_without_retry_is_under_the_deadline() -> None:
    async with holding("gemini") as slow, Simulator() as sim:
        sim.script("gemini", [Reply.status(503)])
        fallback = FallbackLayer([FallbackTarget(GeminiProvider("k", base_url=slow.base_url))])
        provider = GeminiProvider("k", base_url=sim.base_url)
        async with Client(provider, [fallback], deadline=DEADLINE) as client:
            with pytest.raises(DeadlineExceeded):
                await client.generate("a cat")
            assert never_answered(slow)


def _heavy_prompt(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    words = ["blood", "kill", "child", "self", "harm", "gore", "the", "a", "cat", "knife"]
    return " ".join(rng.choice(words) for _ in range(chars // 4))[:chars]


async def test_classifying_a_big_prompt_leaves_the_event_loop_free() -> None:
    classifier = RulesClassifier()
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await classifier.classify(GenerationRequest(prompt=_heavy_prompt(30_000, 1)))
    done = True
    await task
    assert ticks - before > 1  # the loop ran other tasks while the prompt was judged


async def test_a_prompt_over_the_rules_cap_is_refused_before_any_work() -> None:
    classifier = RulesClassifier(max_chars=10_000)
    with pytest.raises(InvalidRequest, match="max_chars"):
        await classifier.classify(GenerationRequest(prompt="a" * 10_001))


async def test_one_big_prompt_does_not_make_concurrent_calls_outlive_their_deadline() -> None:
    # 30 ordinary calls are in flight when three 30,000-character prompts arrive; judged
    # on the event loop they held every other call past its deadline.
    deadline = 0.5
    chain = ClassifierChain([RulesClassifier()])
    async with Simulator() as sim:
        provider = GeminiProvider("k", base_url=sim.base_url)
        async with Client(provider, [SafetyLayer(input=chain)], deadline=deadline) as client:
            light = [asyncio.create_task(client.generate(f"a cat, take {i}")) for i in range(30)]
            await asyncio.sleep(0)  # every light call has started its clock
            heavy = [
                asyncio.create_task(client.generate(_heavy_prompt(30_000, i))) for i in (1, 2, 3)
            ]
            outcomes = await asyncio.gather(*light, *heavy, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, DeadlineExceeded | ContentBlocked), outcome
        else:
            assert outcome.latency <= deadline  # a success is never a late one
    assert any(not isinstance(o, BaseException) for o in outcomes[:30])


async def test_after_aclose_an_in_flight_retry_opens_no_new_session() -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(503), Reply.ok()])
        provider = GeminiProvider("k", base_url=sim.base_url)
        retry = RetryLayer(attempts=3, initial=0.2, jitter="none")
        client = Client(provider, [retry])
        call = asyncio.create_task(client.generate("a cat"))
        while not sim.log:  # noqa: ASYNC110 - the simulator has no event to wait on
            await asyncio.sleep(0.01)
        await client.aclose()  # the call is now sleeping before its retry
        with pytest.raises(ClientClosed):
            await call
        assert client.transport.session is None
    assert [r.status for r in sim.log] == [503]
