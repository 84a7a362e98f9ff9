"""Shared fixtures: a fake clock, a recording observer, and the embedded simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from genguard.clock import FakeClock
from genguard.observe import RecordingObserver

FIXTURES = Path(__file__).parent / "fixtures" / "reference"


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def sim() -> AsyncIterator[object]:
    """A clean simulator on 127.0.0.1 (a free port), stopped after the test."""
    from genguard.sim import Simulator

    async with Simulator(profile="clean") as simulator:
        yield simulator
