"""The per-attempt timeout layer."""

from __future__ import annotations

import asyncio

import pytest

from genguard import Call, Client, GenerationResult
from genguard.errors import AttemptTimeout, ConfigError, DeadlineExceeded
from genguard.layers.timeout import TimeoutLayer
from genguard.pipeline import Handler
from genguard.providers.static import StaticProvider


class Slow:
    scope = "attempt"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.cancelled = False

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return await next(call)


async def test_fast_attempt_passes_through() -> None:
    async with Client(StaticProvider(), [TimeoutLayer(1.0), Slow(0)]) as client:
        result = await client.generate("x")
    assert result.images


async def test_slow_attempt_becomes_retryable_attempt_timeout_and_is_cancelled() -> None:
    slow = Slow(10)
    async with Client(StaticProvider(), [TimeoutLayer(0.05), slow]) as client:
        with pytest.raises(AttemptTimeout) as info:
            await client.generate("x")
    assert info.value.retryable and info.value.timeout == pytest.approx(0.05)
    assert slow.cancelled


async def test_deadline_tighter_than_attempt_timeout_gives_deadline_exceeded() -> None:
    async with Client(StaticProvider(), [TimeoutLayer(10), Slow(10)], deadline=0.05) as client:
        with pytest.raises(DeadlineExceeded) as info:
            await client.generate("x")
    assert not info.value.retryable and info.value.attempts == 1


async def test_deadline_already_passed_fails_before_the_attempt() -> None:
    slow = Slow(0)
    async with Client(StaticProvider(), [TimeoutLayer(1), slow], deadline=1e-9) as client:
        await asyncio.sleep(0.001)
        with pytest.raises(DeadlineExceeded, match="before the attempt"):
            await client.generate("x")


def test_rejects_non_positive_timeout() -> None:
    with pytest.raises(ConfigError) as info:
        TimeoutLayer(0)
    assert info.value.path == "timeout.attempt"
    assert TimeoutLayer("250ms").attempt == 0.25  # the one duration grammar, as in files
