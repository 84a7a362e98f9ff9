"""A quiet library: nothing on stdout or stderr unless the application configures logging;
then every line goes through stdlib ``logging`` under ``genguard``, JSON when asked."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from genguard.layers.telemetry import TelemetryLayer
from genguard.telemetry.logging import (
    EVENT_ATTR,
    FIELDS_ATTR,
    configure_logging,
    get_logger,
    reset_logging,
)

#: A script whose calls log: successes, retries and a blocked prompt.
SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys
    {setup}
    import genguard
    from genguard import Client
    from genguard.demo import default_stack
    from genguard.layers.telemetry import TelemetryLayer
    from genguard.providers.gemini import GeminiProvider
    from genguard.sim import Simulator

    async def main():
        async with Simulator("flaky", failure_rate=0.5, max_hint=0.1, seed=3) as sim:
            stack = default_stack(telemetry=TelemetryLayer())
            provider = GeminiProvider("k", base_url=sim.base_url)
            async with Client(provider, stack) as client:
                for prompt in ("a fox", "a graphic violence scene", "a boat", "a cat"):
                    try:
                        await client.generate(prompt)
                    except genguard.GenGuardError:
                        pass

    asyncio.run(main())
    """
)


def _run(setup: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(setup=setup)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_silent_on_stdout_and_stderr_when_logging_is_unconfigured() -> None:
    done = _run("")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""


def test_logging_basicconfig_controls_genguard_lines() -> None:
    done = _run("logging.basicConfig(level=logging.INFO, stream=sys.stderr)")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # never standard out
    lines = [line for line in done.stderr.splitlines() if "genguard.call" in line]
    assert len(lines) == 4  # one per call, plain text through the root handler
    assert all(line.startswith(("INFO:genguard:", "WARNING:genguard:")) for line in lines)
    assert any("outcome=blocked" in line for line in lines)
    assert any("genguard.retry.scheduled" in line for line in done.stderr.splitlines())
    assert "\x1b[" not in done.stderr  # no colour codes into pipes
    quiet = _run("logging.basicConfig(level=logging.ERROR)")
    assert "genguard.call" not in quiet.stderr


def test_json_lines_through_stdlib_logging_when_configured() -> None:
    done = _run("from genguard.telemetry import configure_logging; configure_logging(json=True)")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines()]
    calls = [r for r in records if r["event"] == "genguard.call"]
    assert len(calls) == 4
    assert {r["outcome"] for r in calls} >= {"success", "blocked"}
    assert all(r["generation_id"] and r["timestamp"] and r["level"] for r in calls)
    assert all(r["logger"] == "genguard" for r in calls)


@pytest.fixture
def restore() -> Iterator[None]:
    yield
    reset_logging()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_records_carry_structured_fields_for_any_stdlib_handler(restore: None) -> None:
    handler = _Capture()
    logger = logging.getLogger("genguard")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        get_logger(service="svc").info("genguard.call", outcome="success", attempts=2)
        get_logger().debug("dropped")
    finally:
        logger.removeHandler(handler)
    (record,) = handler.records
    assert record.name == "genguard"
    assert getattr(record, EVENT_ATTR) == "genguard.call"
    assert getattr(record, FIELDS_ATTR) == {"service": "svc", "outcome": "success", "attempts": 2}
    assert record.getMessage() == "genguard.call service=svc outcome=success attempts=2"


def test_configure_logging_replaces_its_handler_and_reset_undoes_it(restore: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second, level="warning")
    get_logger().warning("genguard.breaker.changed", old="closed", new="open")
    get_logger().info("genguard.call")
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    assert json.loads(line)["new"] == "open"
    reset_logging()
    logger = logging.getLogger("genguard")
    assert logger.propagate is True and logger.level == logging.NOTSET
    get_logger().warning("after reset")
    assert len(second.getvalue().splitlines()) == 1


def test_default_telemetry_logger_is_the_stdlib_one() -> None:
    layer = TelemetryLayer()
    assert "logs=True" in repr(layer)
    assert type(layer._log).__name__ == "StdlibLogger"
