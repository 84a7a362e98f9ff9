"""The safety layer alone, with hand-written providers and classifiers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from genguard import Call, Client, GenerationRequest, GenerationResult, RecordingObserver
from genguard.clock import FakeClock
from genguard.errors import ClassifierUnavailable, ContentBlocked
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import INPUT_RESULT, SafetyLayer, fingerprint
from genguard.pipeline import Layer, Scope
from genguard.providers.static import ScriptedProvider, StaticProvider
from genguard.providers.transport import HttpTransport
from genguard.safety import ClassifierChain, RulesClassifier, Verdict

PROMPT = "a decapitated knight in a gory battle"


def rules_chain(**kwargs: Any) -> ClassifierChain:
    return ClassifierChain([RulesClassifier()], **kwargs)


def all_event_text(recorder: RecordingObserver) -> str:
    return repr([(e.name, e.fields) for e in recorder.events])


async def test_input_block_stops_the_call_before_the_provider(
    recorder: RecordingObserver,
) -> None:
    provider = StaticProvider()
    async with Client(provider, [SafetyLayer(input=rules_chain())], observer=recorder) as client:
        with pytest.raises(ContentBlocked) as info:
            await client.generate(PROMPT)
    error = info.value
    assert (error.stage, error.source, error.category) == ("input", "classifier", "violence")
    assert error.reason is not None and error.reason.startswith("violence rule #")
    assert error.provider == "static" and not error.retryable
    assert provider.calls == 0
    assert "attempt_started" not in recorder.names()
    [verdict] = recorder.of("safety_verdict")
    assert verdict == {
        "stage": "input", "allowed": False, "categories": {"violence": 1.0},
        "classifier": "rules", "action": "block",
    }  # fmt: skip
    [flag] = [n for n in recorder.of("notice") if n["event"] == "safety_flagged"]
    assert flag["text_sha256"] == fingerprint(PROMPT) and flag["text_chars"] == len(PROMPT)
    assert "text" not in flag
    assert PROMPT not in all_event_text(recorder)
    assert PROMPT not in str(error) and PROMPT not in repr(error)


async def test_log_prompts_opts_in_to_the_text(recorder: RecordingObserver) -> None:
    layer = SafetyLayer(input=rules_chain(), log_prompts=True)
    async with Client(StaticProvider(), [layer], observer=recorder) as client:
        with pytest.raises(ContentBlocked):
            await client.generate(PROMPT)
    [flag] = [n for n in recorder.of("notice") if n["event"] == "safety_flagged"]
    assert flag["text"] == PROMPT


async def test_allowed_prompt_passes_and_is_reported(recorder: RecordingObserver) -> None:
    provider = StaticProvider()
    async with Client(provider, [SafetyLayer(input=rules_chain())], observer=recorder) as client:
        result = await client.generate("a knight on a horse")
    assert result.images and provider.calls == 1
    [verdict] = recorder.of("safety_verdict")
    assert verdict["action"] == "allow" and verdict["allowed"] and verdict["categories"] == {}
    assert not [n for n in recorder.of("notice") if n["event"] == "safety_flagged"]


async def test_warn_lets_the_call_through_and_counts_it(recorder: RecordingObserver) -> None:
    provider = StaticProvider()
    layer = SafetyLayer(input=rules_chain(actions={"violence": "warn"}))

    class Peek:
        scope: Scope = "call"
        seen: Any = None

        async def __call__(self, call: Call, next: Any) -> GenerationResult:
            Peek.seen = call.extras.get(INPUT_RESULT)
            result: GenerationResult = await next(call)
            return result

    async with Client(provider, [layer, Peek()], observer=recorder) as client:
        await client.generate(PROMPT)
    assert provider.calls == 1
    [verdict] = recorder.of("safety_verdict")
    assert verdict["action"] == "warn" and verdict["allowed"]
    assert verdict["categories"] == {"violence": 1.0}
    [flag] = [n for n in recorder.of("notice") if n["event"] == "safety_flagged"]
    assert flag["action"] == "warn" and flag["category"] == "violence"
    assert Peek.seen is not None and Peek.seen.decisions[0].action == "warn"


async def test_provider_block_is_reported_once_and_reraised(recorder: RecordingObserver) -> None:
    block = ContentBlocked(
        "gemini: output blocked", stage="output", category="prohibited", source="provider",
        reason="IMAGE_PROHIBITED_CONTENT", provider="gemini",
    )  # fmt: skip
    provider = ScriptedProvider([block])
    stack = [SafetyLayer(input=None), SafetyLayer(input=None)]  # nested: still one report
    async with Client(provider, stack, observer=recorder) as client:
        with pytest.raises(ContentBlocked) as info:
            await client.generate("a castle")
    assert info.value is block
    [verdict] = recorder.of("safety_verdict")
    assert verdict == {
        "stage": "output", "allowed": False, "categories": {"prohibited": 1.0},
        "classifier": "provider:gemini", "action": "block",
    }  # fmt: skip
    [flag] = [n for n in recorder.of("notice") if n["event"] == "safety_flagged"]
    assert flag["source"] == "provider" and flag["reason"] == "IMAGE_PROHIBITED_CONTENT"


async def test_provider_blocks_are_not_retried_nor_breaker_failures(
    recorder: RecordingObserver,
) -> None:
    clock = FakeClock()
    block = ContentBlocked("blocked", stage="input", category="hate", source="provider")
    provider = ScriptedProvider([block])
    breaker = CircuitBreakerLayer(fail_max=1)
    stack: list[Layer] = [SafetyLayer(input=None), RetryLayer(attempts=5, initial=0.1), breaker]
    async with Client(provider, stack, observer=recorder, clock=clock) as client:
        for _ in range(3):
            with pytest.raises(ContentBlocked):
                await client.generate("a castle")
        snapshot = await breaker.snapshot("scripted/scripted-1", clock=clock)
    assert provider.calls == 3  # one attempt per call
    assert recorder.of("retry_scheduled") == []
    assert recorder.of("breaker_changed") == []
    assert snapshot.state == "closed" and snapshot.consecutive_failures == 0
    assert len(recorder.of("safety_verdict")) == 3


class TextProvider(StaticProvider):
    def __init__(self, text: str | None, revised: str | None = None) -> None:
        super().__init__()
        self.text = text
        self.revised = revised

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        result = await super().send(call, transport)
        return GenerationResult(
            images=result.images, generation_id=result.generation_id, provider=self.name,
            model=result.model, text=self.text, revised_prompt=self.revised,
        )  # fmt: skip


async def test_output_classifier_blocks_returned_text(recorder: RecordingObserver) -> None:
    layer = SafetyLayer(input=rules_chain(), output=rules_chain())
    provider = TextProvider("Here is the scene: a pile of corpses in a ditch.")
    async with Client(provider, [layer], observer=recorder) as client:
        with pytest.raises(ContentBlocked) as info:
            await client.generate("a quiet field")
    assert (info.value.stage, info.value.source, info.value.category) == (
        "output", "classifier", "violence",
    )  # fmt: skip
    stages = [(v["stage"], v["action"]) for v in recorder.of("safety_verdict")]
    assert stages == [("input", "allow"), ("output", "block")]


async def test_output_classifier_checks_revised_prompt_and_skips_empty_text() -> None:
    layer = SafetyLayer(input=None, output=rules_chain())
    async with Client(TextProvider(None, "a gory massacre"), [layer]) as client:
        with pytest.raises(ContentBlocked):
            await client.generate("a field")
    calls = 0

    class Counting:
        name = "counting"

        async def classify(self, request: GenerationRequest) -> Verdict:
            nonlocal calls
            calls += 1
            return Verdict.allow(self.name)

    quiet = SafetyLayer(input=None, output=ClassifierChain([Counting()]))
    async with Client(TextProvider("  "), [quiet]) as client:
        await client.generate("a field")
    assert calls == 0


class Down:
    """A classifier that is down and fails closed."""

    name = "down"

    async def classify(self, request: GenerationRequest) -> Verdict:
        raise ClassifierUnavailable("down: unavailable; failing closed", classifier="down")


async def test_failing_closed_classifier_raises_before_the_provider(
    recorder: RecordingObserver,
) -> None:
    provider = TextProvider("fine")
    layer = SafetyLayer(input=ClassifierChain([Down()]))
    async with Client(provider, [layer], observer=recorder) as client:
        with pytest.raises(ClassifierUnavailable) as info:
            await client.generate("x")
    assert info.value.stage == "input"
    assert provider.calls == 0  # the provider was never asked
    assert "attempt_started" not in recorder.names()
    [notice] = recorder.of("notice")
    assert notice["event"] == "safety_classifier_unavailable" and notice["stage"] == "input"


async def test_failing_closed_output_classifier_withholds_the_result(
    recorder: RecordingObserver,
) -> None:
    provider = TextProvider("fine")
    layer = SafetyLayer(input=None, output=ClassifierChain([Down()]))
    async with Client(provider, [layer], observer=recorder) as client:
        with pytest.raises(ClassifierUnavailable) as info:
            await client.generate("x")
    assert info.value.stage == "output"
    assert provider.calls == 1  # the output stage runs after the provider answered
    [notice] = recorder.of("notice")
    assert notice["event"] == "safety_classifier_unavailable" and notice["stage"] == "output"


async def test_failing_open_classifier_is_reported(recorder: RecordingObserver) -> None:
    class Flaky:
        name = "flaky"

        async def classify(self, request: GenerationRequest) -> Verdict:
            return Verdict(allowed=True, classifier=self.name, error="HTTP 503")

    provider = StaticProvider()
    layer = SafetyLayer(input=ClassifierChain([Flaky()]))
    async with Client(provider, [layer], observer=recorder) as client:
        await client.generate("x")
    assert provider.calls == 1
    [notice] = recorder.of("notice")
    assert notice == {
        "event": "safety_classifier_failed_open", "stage": "input", "classifier": "flaky",
        "error": "HTTP 503",
    }  # fmt: skip


async def test_cancellation_propagates_at_once() -> None:
    started = asyncio.Event()

    class Hangs:
        name = "hangs"

        async def classify(self, request: GenerationRequest) -> Verdict:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    provider = StaticProvider()
    async with Client(provider, [SafetyLayer(input=ClassifierChain([Hangs()]))]) as client:
        task = asyncio.create_task(client.generate("x"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert provider.calls == 0


def test_scope_and_repr() -> None:
    layer = SafetyLayer(input=rules_chain())
    assert layer.scope == "call"
    assert repr(layer).startswith("SafetyLayer(input=ClassifierChain([rules]")
