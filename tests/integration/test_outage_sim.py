"""The breaker against a real outage: the simulator's ``outage`` profile over loopback HTTP.

16 callers hammer a Gemini endpoint that answers 503 for 5 s and then recovers.
Everything is asserted from the simulator's own request log: how many requests
reached it during the outage, how far apart the probes were, and how soon after
the outage ended traffic flowed again.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from genguard import Call, Client
from genguard.errors import CircuitOpen, ProviderUnavailable
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.observe import Observer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator
from genguard.sim.log import max_in_window

CONCURRENCY = 16
FAIL_MAX = 5
RESET_TIMEOUT = 1.0
PROBES = 1
OUTAGE = 5.0
#: Loopback round trip plus scheduling slack; the probe answers in milliseconds.
ROUND_TRIP = 0.25


@dataclass
class Timeline(Observer):
    """Breaker changes, stamped on the same monotonic clock as the simulator's log."""

    changes: list[tuple[float, str, str, str]] = field(default_factory=list)

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        self.changes.append((time.monotonic(), old, new, reason))


@dataclass
class Tally:
    served: int = 0
    refused: int = 0
    failed: int = 0


async def caller(client: Client, stop_at: float, tally: Tally, index: int) -> None:
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        try:
            await client.generate(f"a lighthouse, caller {index}, take {n}")
            tally.served += 1
        except CircuitOpen as refused:
            tally.refused += 1
            # Come back when a probe may be admitted (half-open: poll briefly).
            await asyncio.sleep(max(0.01, refused.retry_at - time.monotonic()))
        except ProviderUnavailable:
            tally.failed += 1


async def test_outage_sheds_load_probes_once_per_interval_and_recovers_promptly() -> None:
    timeline, tally = Timeline(), Tally()
    breaker = CircuitBreakerLayer(
        fail_max=FAIL_MAX, reset_timeout=RESET_TIMEOUT, half_open_probes=PROBES
    )
    async with Simulator(profile="clean") as sim:
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, [breaker, TimeoutLayer(5.0)], observer=timeline) as client:
            await client.generate("warm-up")  # open the connection pool first
            sim.clear_log()
            t_switch = time.monotonic()
            sim.set_profile("outage", duration=OUTAGE)
            stop_at = t_switch + OUTAGE + RESET_TIMEOUT + 1.0
            await asyncio.gather(*(caller(client, stop_at, tally, i) for i in range(CONCURRENCY)))
        log = [r for r in sim.log if r.api == "gemini"]

    outage_end = t_switch + OUTAGE  # the profile starts counting at or after t_switch
    failed = [r for r in log if r.status == 503]
    served = [r for r in log if r.status == 200]
    assert failed and served and {r.status for r in log} == {200, 503}
    assert max(r.time for r in failed) < min(r.time for r in served)

    # 1. Upstream load during the outage. What was in flight when the 503s began
    #    (one request per caller) cannot be stopped; after that at most fail_max - 1
    #    more before the trip, then at most PROBES per reset interval.
    intervals = math.ceil(OUTAGE / RESET_TIMEOUT)
    assert len(failed) <= CONCURRENCY + FAIL_MAX - 1 + PROBES * intervals
    tripped_at = next(t for t, old, new, _ in timeline.changes if (old, new) == ("closed", "open"))
    probes = [r for r in failed if r.time > tripped_at + ROUND_TRIP]
    assert 1 <= len(probes) <= PROBES * intervals
    assert max_in_window(probes, seconds=RESET_TIMEOUT) <= PROBES
    # ...while the callers kept asking: the breaker refused them instead.
    assert tally.refused > len(failed)

    # 2. Recovery: the first success reached the simulator within reset_timeout plus
    #    one probe round trip of the outage's end, and the breaker closed on it.
    first_ok = min(r.time for r in served)
    assert first_ok - outage_end <= RESET_TIMEOUT + ROUND_TRIP
    closed_at = [t for t, _, new, _ in timeline.changes if new == "closed"]
    assert len(closed_at) == 1
    assert closed_at[0] - outage_end <= RESET_TIMEOUT + ROUND_TRIP
    # Full traffic after closing: every caller got through again.
    assert len([r for r in served if r.time > closed_at[0]]) >= CONCURRENCY

    reasons = [reason for _, _, _, reason in timeline.changes]
    assert reasons[0] == "consecutive_failures" and reasons[-1] == "probes_succeeded"
    print(
        f"\noutage {OUTAGE:g}s at concurrency {CONCURRENCY}: upstream during outage "
        f"{len(failed)} (probes {len(probes)}), refused fast {tally.refused}, "
        f"first success {first_ok - outage_end:+.3f}s and closed "
        f"{closed_at[0] - outage_end:+.3f}s after the outage ended"
    )
