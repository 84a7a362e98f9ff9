"""Fixtures for the provider tests: a replay server on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from provider_support import ReplayServer


@pytest.fixture
async def replay() -> AsyncIterator[ReplayServer]:
    server = ReplayServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
