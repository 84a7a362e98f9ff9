"""Shared fixtures: a fake clock, a recording observer, and the embedded simulator.

Shared helpers (free ports, calls, providers, fake time over real I/O) live in the
``support`` package next to this file. Markers: ``slow``, ``redis``, ``prometheus``
(``make test-fast`` leaves them out; ``make test`` runs everything).

Hypothesis: with ``CI`` set in the environment the ``ci`` profile applies: no
per-example deadline (a deadline measures the machine, not the code) and no
health checks that time the data generation, and every failure prints its blob.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from genguard.clock import FakeClock
from genguard.observe import RecordingObserver

FIXTURES = Path(__file__).parent / "fixtures" / "reference"

settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


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
