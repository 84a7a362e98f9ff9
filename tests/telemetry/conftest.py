"""Fixtures for the telemetry tests (the helpers live in ``telemetry_support``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from telemetry_support import Logs, Metrics, Spans


@pytest.fixture
def spans() -> Iterator[Spans]:
    s = Spans()
    yield s
    s.provider.shutdown()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    m = Metrics()
    yield m
    m.provider.shutdown()


@pytest.fixture
def logs() -> Logs:
    return Logs()
