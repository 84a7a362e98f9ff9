"""The pytest plugin: simulator, fake clock and observer fixtures for your own stack's tests.

Registered through the ``pytest11`` entry point, so installing genguard makes these
fixtures available in any suite (``pip install 'genguard[testing]'`` brings pytest and
pytest-asyncio). Fixtures:

- ``genguard_sim``: a factory ``await genguard_sim("flaky", failure_rate=0.5)`` that starts
  a simulator on loopback and stops it after the test;
- ``genguard_fault``: the fault profile name a test is running under, from
  ``@pytest.mark.genguard_faults("flaky", "outage")`` (one test run per profile);
- ``genguard_clock``: a :class:`~genguard.clock.FakeClock` to hand to ``Client(clock=...)``;
- ``genguard_observer``: a :class:`~genguard.observe.RecordingObserver`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ..clock import FakeClock
from ..observe import RecordingObserver
from ..sim import Simulator

SimFactory = Callable[..., Awaitable[Simulator]]
MARKER = "genguard_faults"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*profiles): run the test once under each simulator fault profile "
        "(the profile name is the genguard_fault fixture)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None or "genguard_fault" not in metafunc.fixturenames:
        return
    from ..sim import PROFILES

    names = list(marker.args) or sorted(PROFILES)
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise pytest.UsageError(
            f"{MARKER}: unknown simulator profile(s) {unknown}; choose from {sorted(PROFILES)}"
        )
    metafunc.parametrize("genguard_fault", names, ids=names)


@pytest.fixture
def genguard_fault(request: pytest.FixtureRequest) -> str:
    """The fault profile this run of the test uses (``clean`` without the marker)."""
    return str(getattr(request, "param", "clean"))


async def _sim_factory() -> AsyncIterator[SimFactory]:
    """Start simulators with ``await genguard_sim(profile, **options)``; all stop afterwards."""
    started: list[Simulator] = []

    async def start(profile: str = "clean", **options: Any) -> Simulator:
        sim = Simulator(profile, **options)
        await sim.start()
        started.append(sim)
        return sim

    try:
        yield start
    finally:
        for sim in reversed(started):
            await sim.stop()


def _without_pytest_asyncio() -> SimFactory:
    raise pytest.UsageError(
        "the genguard_sim fixture needs pytest-asyncio: pip install 'genguard[testing]'"
    )


try:
    import pytest_asyncio
except ImportError:  # the plugin loads in any suite; only the async fixture needs it
    genguard_sim: Any = pytest.fixture(_without_pytest_asyncio, name="genguard_sim")
else:
    genguard_sim = pytest_asyncio.fixture(_sim_factory, name="genguard_sim")


@pytest.fixture
def genguard_clock() -> FakeClock:
    """Virtual time: sleeps return as soon as every other task is idle."""
    return FakeClock()


@pytest.fixture
def genguard_observer() -> RecordingObserver:
    """Every event the stack reports, in order."""
    return RecordingObserver()
