"""The call ledger and the resubmit policy, in process (no network, virtual time)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from genguard import Call, Client, GenerationRequest, GenerationResult, RecordingObserver
from genguard.billing import CallLedger, Cost, ResubmitPolicy, mark_sent, status_of
from genguard.clock import FakeClock
from genguard.errors import (
    AttemptTimeout,
    ConfigError,
    GenGuardError,
    ProviderUnavailable,
    RateLimited,
)
from genguard.layers.retry import RetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.model import Image, Usage
from genguard.providers.static import TINY_PNG, StaticProvider
from genguard.providers.transport import HttpTransport


def _error(cls: type[GenGuardError], billing: str | None, **kw: object) -> GenGuardError:
    error = cls("boom", **kw)  # type: ignore[arg-type]
    error.billing = billing  # type: ignore[assignment]
    return error


class Priced(StaticProvider):
    """Plays outcomes: an error to raise (after marking the request sent if ``sent``),
    ``"hang"`` to wait forever after sending, or None for a billed success."""

    def __init__(self, outcomes: list[object]) -> None:
        super().__init__(name="gemini", model="gemini-2.5-flash-image")
        self.outcomes = outcomes

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if outcome == "hang":
            mark_sent()
            await asyncio.Event().wait()
        if isinstance(outcome, BaseException):
            raise outcome
        result = await super().send(call, transport)
        return replace(
            result, usage=Usage(input_text_tokens=10, image_tokens=1290, output_text_tokens=0)
        )


BILLED = (10 * Decimal("0.30") + 1290 * Decimal(30)) / 1_000_000


def test_status_of_reads_the_error_then_the_mark() -> None:
    assert status_of(None, sent=False) == "billed"
    assert status_of(_error(RateLimited, "rejected"), sent=True) == "rejected"
    assert status_of(AttemptTimeout("t", timeout=1), sent=True) == "uncertain"
    assert status_of(AttemptTimeout("t", timeout=1), sent=False) == "not_sent"
    assert status_of(asyncio.CancelledError(), sent=True) == "uncertain"
    assert status_of(ValueError("bug"), sent=False) == "not_sent"


async def test_settled_and_possibly_billed_are_kept_apart() -> None:
    clock = FakeClock()
    provider = Priced(
        [_error(ProviderUnavailable, "uncertain"), _error(RateLimited, "rejected"), None]
    )
    retry = RetryLayer(attempts=5, initial=0.01, resubmit=ResubmitPolicy(2))
    async with Client(provider, [retry], clock=clock) as client:
        result = await client.generate("a lighthouse", options={"quality": "low"})
    assert result.cost is not None
    assert result.cost.settled == BILLED
    assert result.cost.possibly_billed > Decimal("0.0387")  # the estimate of the lost attempt
    assert result.cost.total == result.cost.settled + result.cost.possibly_billed
    assert "possibly billed" in str(result.cost)


async def test_resubmit_cap_gives_up_after_the_second_possibly_billed_attempt() -> None:
    recorder = RecordingObserver()
    uncertain = _error(ProviderUnavailable, "uncertain")
    provider = Priced([uncertain, uncertain, None])
    retry = RetryLayer(attempts=5, initial=0.01)  # default: one resubmit
    async with Client(provider, [retry], clock=FakeClock(), observer=recorder) as client:
        with pytest.raises(ProviderUnavailable) as caught:
            await client.generate("a lighthouse")
    assert provider.calls == 2
    assert {"reason": "possibly_billed"} in recorder.of("retry_gave_up")
    cost = caught.value.cost
    assert cost is not None and cost.settled == 0 and cost.possibly_billed > 0


async def test_never_means_no_resubmit_but_ordinary_retries_go_on() -> None:
    provider = Priced([_error(RateLimited, "rejected"), _error(RateLimited, "rejected"), None])
    retry = RetryLayer(attempts=5, initial=0.01, resubmit=ResubmitPolicy.never())
    async with Client(provider, [retry], clock=FakeClock()) as client:
        result = await client.generate("a lighthouse")
    assert result.attempts == 3
    provider = Priced([_error(ProviderUnavailable, "uncertain"), None])
    async with Client(provider, [retry], clock=FakeClock()) as client:
        with pytest.raises(ProviderUnavailable):
            await client.generate("a lighthouse")
    assert provider.calls == 1


async def test_a_timeout_after_sending_is_possibly_billed_and_before_is_not() -> None:
    provider = Priced(["hang"])
    async with Client(provider, [TimeoutLayer(0.01)]) as client:
        call = client.new_call(GenerationRequest(prompt="x"))
        with pytest.raises(AttemptTimeout):
            await client.handler(call)
    assert [c.status for c in call.billing.charges] == ["uncertain"]

    class Slow(StaticProvider):
        async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
            await asyncio.Event().wait()  # e.g. waiting for a connection: nothing sent
            raise AssertionError

    async with Client(Slow(), [TimeoutLayer(0.01)]) as client:
        call = client.new_call(GenerationRequest(prompt="x"))
        with pytest.raises(AttemptTimeout):
            await client.handler(call)
    assert [c.status for c in call.billing.charges] == ["not_sent"]


async def test_cancelling_the_call_in_flight_records_an_uncertain_attempt() -> None:
    provider = Priced(["hang"])
    async with Client(provider) as client:
        call = client.new_call(GenerationRequest(prompt="x"))
        task = asyncio.ensure_future(client.handler(call))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [c.status for c in call.billing.charges] == ["uncertain"]


def test_finish_attempt_is_decided_once_per_attempt() -> None:
    client = Client(StaticProvider())
    call = client.new_call(GenerationRequest(prompt="x"))
    call.attempt = 1
    first = call.billing.finish_attempt(call, None, _error(RateLimited, "rejected"))
    again = call.billing.finish_attempt(call, None, None)
    assert again is first and len(call.billing.charges) == 1


def test_unknown_models_are_counted_unpriced() -> None:
    client = Client(StaticProvider(model="mystery-1"))
    call = client.new_call(GenerationRequest(prompt="x"))
    call.attempt = 1
    call.billing.finish_attempt(call, None, _error(ProviderUnavailable, "uncertain"))
    assert call.billing.cost() == Cost(unpriced=1)


def test_duplicates_count_resubmits_after_uncertain_attempts() -> None:
    client = Client(Priced([None]))
    call = client.new_call(GenerationRequest(prompt="x"))
    for status in ("uncertain", "rejected", "uncertain", None):
        call.attempt += 1
        error = None if status is None else _error(ProviderUnavailable, status)
        result = None
        if error is None:
            result = GenerationResult((Image(TINY_PNG),), "g", "gemini", "gemini-2.5-flash-image")
        call.billing.finish_attempt(call, result, error)
    assert call.billing.possibly_billed_duplicates == 2
    assert call.billing.uncertain == 2
    assert isinstance(call.billing, CallLedger)


def test_policy_rejects_bad_caps() -> None:
    with pytest.raises(ConfigError):
        ResubmitPolicy(-1)
    with pytest.raises(ConfigError):
        ResubmitPolicy(True)  # type: ignore[arg-type]
