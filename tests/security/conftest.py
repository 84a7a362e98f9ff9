"""Fixtures for the hostile-input tests: a real redis-server (see tests/redis_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from redis_server import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on 127.0.0.1 (a free port, no persistence), stopped by pid."""
    with RedisServer() as server:
        yield server
