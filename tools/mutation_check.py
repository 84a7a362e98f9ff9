"""Mutation check: flip one key condition at a time and show the suite catching it.

Each mutant replaces one exact snippet of source with a broken version, in a throwaway
copy of the repository (never the working tree), and runs the tests that should catch
it. A mutant is *killed* when a test fails (the first failing test is reported),
*survived* when they all pass (a hole in the suite), and *not applied* when its snippet
is no longer in the source (the code moved on; update the mutant). Run:

    python tools/mutation_check.py [--only NAME ...] [--out report.md]

Exit status 1 when a mutant survived or was not applied (a mutant whose snippet moved
must be updated, never silently skipped). ``make mutation`` runs it; CI runs that.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Real seconds after which a mutant's test run counts as hung.
HANG_GUARD = 300.0
IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "site", "__pycache__", ".*_cache")


@dataclass(frozen=True)
class Mutant:
    name: str
    area: str
    path: str  # under src/genguard
    original: str
    mutated: str
    tests: tuple[str, ...]
    why: str


MUTANTS = [
    # -- retry ---------------------------------------------------------------------------
    Mutant(
        "retry-non-retryable",
        "retry",
        "errors.py",
        "return isinstance(error, GenGuardError) and error.retryable",
        "return isinstance(error, GenGuardError)",
        ("tests/layers/test_retry.py",),
        "retries errors marked not retryable (bad requests, blocks)",
    ),
    Mutant(
        "retry-ignores-hints",
        "retry",
        "layers/retry.py",
        "return max(hint + spread, backoff)",
        "return backoff",
        ("tests/layers/test_retry_properties.py", "tests/layers/test_retry.py"),
        "a server's Retry-After is not a floor any more",
    ),
    Mutant(
        "retry-hint-spread-x5",
        "retry",
        "layers/retry.py",
        "HINT_SPREAD = 0.1\n",
        "HINT_SPREAD = 0.5\n",
        ("tests/layers/test_retry_properties.py",),
        "jitter on a hint 5x the documented 10% (the layer's own bound helper moves with it)",
    ),
    # -- rate limit ----------------------------------------------------------------------
    Mutant(
        "limit-bulkhead-off-by-one",
        "rate_limit",
        "layers/rate_limit.py",
        "if gate.active < self.concurrency and not gate.waiters:",
        "if gate.active <= self.concurrency and not gate.waiters:",
        ("tests/layers/test_rate_limit.py",),
        "one more attempt in flight than the concurrency cap",
    ),
    Mutant(
        "limit-no-wait",
        "rate_limit",
        "layers/rate_limit.py",
        "        if booking.wait <= 0:\n            return False",
        "        if True:\n            return False",
        ("tests/integration/test_rate_limit_sim.py",),
        "admitted at once instead of sleeping until the booked slot",
    ),
    Mutant(
        "limit-queue-unbounded",
        "rate_limit",
        "layers/rate_limit.py",
        "if len(gate.waiters) >= self.queue:",
        "if len(gate.waiters) > self.queue + 1000:",
        ("tests/layers/test_rate_limit.py",),
        "the wait queue is no longer bounded by `queue`",
    ),
    # -- circuit breaker -----------------------------------------------------------------
    Mutant(
        "breaker-ignores-failures",
        "circuit_breaker",
        "layers/circuit_breaker.py",
        '        if counts_against_breaker(error):\n            return "failure"',
        '        if False:\n            return "failure"',
        ("tests/layers/test_circuit_breaker.py",),
        "5xx and timeouts no longer count against the breaker",
    ),
    Mutant(
        "breaker-counts-client-429",
        "circuit_breaker",
        "layers/circuit_breaker.py",
        'isinstance(error, RateLimited) and error.scope == "server"',
        "isinstance(error, RateLimited)",
        ("tests/layers/test_circuit_breaker.py",),
        "the client's own limiter refusals trip the breaker",
    ),
    Mutant(
        "breaker-raw-connection-errors",
        "circuit_breaker",
        "errors.py",
        "    return isinstance(error, ConnectionError)",
        "    return False",
        ("tests/layers/test_circuit_breaker.py",),
        "raw connection errors no longer count",
    ),
    # -- safety --------------------------------------------------------------------------
    Mutant(
        "safety-input-skipped",
        "safety",
        "layers/safety.py",
        '            await self._judge(call, self.input, "input", call.request)',
        "            pass",
        ("tests/layers/test_safety_layer.py",),
        "prompts reach the provider unclassified",
    ),
    Mutant(
        "safety-threshold-strict",
        "safety",
        "safety/chain.py",
        "if score >= threshold:",
        "if score > threshold:",
        ("tests/safety/test_safety_chain.py",),
        "a score exactly at the threshold passes",
    ),
    # -- hints ---------------------------------------------------------------------------
    Mutant(
        "hints-past-date-dropped",
        "hints",
        "providers/hints.py",
        "return _clamp(max(0.0, when - now))",
        "return _clamp(when - now)",
        ("tests/providers/test_hints.py",),
        "a Retry-After date already past is dropped instead of meaning 'now'",
    ),
    Mutant(
        "hints-no-clamp",
        "hints",
        "providers/hints.py",
        "return min(seconds, MAX_HINT_SECONDS)",
        "return seconds",
        ("tests/providers/test_hints.py",),
        "an absurd Retry-After is no longer clamped",
    ),
    Mutant(
        "hints-ms-as-seconds",
        "hints",
        "providers/hints.py",
        "return _decimal_seconds(text, 0.001)",
        "return _decimal_seconds(text, 1.0)",
        ("tests/providers/test_hints.py",),
        "retry-after-ms read as seconds",
    ),
    Mutant(
        "gemini-401-bad-request",
        "hints",
        "providers/gemini.py",
        "    if status in (401, 403):\n        return AuthenticationError(message, **common)",
        "    if status in (403,):\n        return AuthenticationError(message, **common)",
        ("tests/providers/test_malformed.py",),
        "a Gemini 401 is no longer an AuthenticationError",
    ),
    # -- error facts (what an error says about itself) ------------------------------------
    Mutant(
        "errors-429-not-retryable",
        "errors",
        "errors.py",
        "    retryable = True\n    breaker_failure = False\n    reroutable = True\n"
        '    kind: ClassVar[str | None] = "rate_limited"',
        "    retryable = False\n    breaker_failure = False\n    reroutable = True\n"
        '    kind: ClassVar[str | None] = "rate_limited"',
        ("tests/test_errors.py", "tests/layers/test_retry.py"),
        "a server's 429 is no longer worth retrying",
    ),
    Mutant(
        "errors-503-not-breaker",
        "errors",
        "errors.py",
        '    """5xx, overloaded, connection refused or reset: worth retrying, counts against the '
        'breaker."""\n\n    retryable = True\n    breaker_failure = True',
        '    """5xx, overloaded, connection refused or reset: worth retrying, counts against the '
        'breaker."""\n\n    retryable = True\n    breaker_failure = False',
        ("tests/test_errors.py", "tests/layers/test_circuit_breaker.py"),
        "an unavailable provider no longer counts against the breaker",
    ),
    Mutant(
        "errors-timeout-not-breaker",
        "errors",
        "errors.py",
        "    breaker_failure = True\n    reroutable = True\n"
        '    kind: ClassVar[str | None] = "attempt_timeout"',
        "    breaker_failure = False\n    reroutable = True\n"
        '    kind: ClassVar[str | None] = "attempt_timeout"',
        ("tests/test_errors.py", "tests/layers/test_circuit_breaker.py"),
        "attempt timeouts no longer count against the breaker",
    ),
    Mutant(
        "errors-5xx-status-not-breaker",
        "errors",
        "errors.py",
        "if status is not None and 500 <= status <= 599 and not _declares(",
        "if status is not None and 501 <= status <= 599 and not _declares(",
        ("tests/test_errors.py", "tests/layers/test_circuit_breaker.py"),
        "a provider error with status 500 no longer counts against the breaker",
    ),
    Mutant(
        "errors-declared-fact-loses-to-status",
        "errors",
        "errors.py",
        'if status is not None and 500 <= status <= 599 and not _declares(cls, "breaker_failure"):',
        "if status is not None and 500 <= status <= 599:",
        ("tests/test_error_facts.py",),
        "a class that says it is no breaker failure still trips the breaker on a 5xx",
    ),
    Mutant(
        "fallback-ignores-reroutable",
        "fallback",
        "layers/fallback.py",
        "if not (isinstance(error, GenGuardError) and error.reroutable):",
        "if not isinstance(error, GenGuardError):",
        ("tests/test_error_facts.py",),
        "fallback routes errors that say no other stack can help",
    ),
    Mutant(
        "rate-limit-refund-ignores-billing",
        "rate_limit",
        "layers/rate_limit.py",
        'if demands and error.billing in ("not_sent", "rejected"):',
        "if demands:",
        ("tests/test_error_facts.py",),
        "images of a lost answer (maybe generated) are given back to the limiter",
    ),
    # -- the named tests of the issue ----------------------------------------------------
    Mutant(
        "telemetry-outcome-order",
        "telemetry",
        "errors.py",
        '    kind: ClassVar[str | None] = "unavailable"\n'
        '    outcome: ClassVar[str] = "unavailable"',
        '    kind: ClassVar[str | None] = "unavailable"\n'
        '    outcome: ClassVar[str] = "provider_error"',
        ("tests/telemetry/test_telemetry_layer.py",),
        "503s labelled provider_error on dashboards",
    ),
    Mutant(
        "clock-advance-late",
        "clock",
        "clock.py",
        "while self._sleepers and self._sleepers[0][0] <= self._now:",
        "while self._sleepers and self._sleepers[0][0] < self._now:",
        ("tests/test_clock.py::test_advance_wakes_due_sleepers_and_only_those",),
        "advance() does not wake a sleeper due exactly now",
    ),
]


def run_mutant(mutant: Mutant, copy: Path) -> tuple[str, str, float]:
    """(status, detail, seconds) for one mutant, applied in ``copy`` and reverted."""
    target = copy / "src" / "genguard" / mutant.path
    if not target.exists():
        return "not applied", f"{mutant.path} is gone", 0.0
    source = target.read_text()
    count = source.count(mutant.original)
    if count != 1:
        return "not applied", f"snippet found {count} times in {mutant.path}", 0.0
    target.write_text(source.replace(mutant.original, mutant.mutated))
    started = time.monotonic()
    try:
        env = {**os.environ, "PYTHONPATH": str(copy / "src"), "CI": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             "--timeout=30", *mutant.tests],
            cwd=copy, env=env, capture_output=True, text=True, timeout=HANG_GUARD,
        )  # fmt: skip
    except subprocess.TimeoutExpired:  # the tests hung on the mutant: that is a failure too
        return "killed", f"the tests hung (> {HANG_GUARD:g} s)", time.monotonic() - started
    finally:
        target.write_text(source)
    seconds = time.monotonic() - started
    if proc.returncode == 0:
        return "SURVIVED", "every test passed", seconds
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    error = re.findall(r"^ERROR (\S+)", proc.stdout, re.M)
    detail = (failed or error or [f"pytest exit {proc.returncode}"])[0]
    return "killed", detail, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/mutation_check.py")
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    unknown = sorted(set(args.only or ()) - {m.name for m in MUTANTS})
    if unknown:
        parser.error(f"no such mutant: {', '.join(unknown)}")
    rows = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="genguard-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=IGNORE)
        for mutant in chosen:
            status, detail, seconds = run_mutant(mutant, copy)
            rows.append((mutant, status, detail, seconds))
            print(f"{status:11} {mutant.name:30} {detail}", flush=True)
    lines = [
        "| area | mutant | what it breaks | result | caught by | s |",
        "|---|---|---|---|---|---:|",
    ]
    for mutant, status, detail, seconds in rows:
        lines.append(
            f"| {mutant.area} | `{mutant.name}` | {mutant.why} | {status} | `{detail}` "
            f"| {seconds:.0f} |"
        )
    killed = sum(status == "killed" for _, status, _, _ in rows)
    lines.append("")
    lines.append(f"{killed} of {len(rows)} mutants killed in {time.monotonic() - began:.0f} s.")
    report = "\n".join(lines)
    print("\n" + report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
