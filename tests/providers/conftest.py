"""Fixtures for the provider tests: the embedded simulator, capturing requests, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from genguard.sim import Simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(capture=True) as server:
        yield server
