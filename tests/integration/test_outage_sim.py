"""The breaker against a real outage: the simulator's ``outage`` profile over loopback HTTP.

16 callers hammer a Gemini endpoint that answers 503 for 5 s and then recovers.
Client, breaker and simulator share one fake clock that moves only while every
caller sleeps, so the request log's times are exact virtual times on any machine.
Everything is asserted from the simulator's own request log: how many requests
reached it during the outage, how far apart the probes were, and how soon after
the outage ended traffic flowed again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from genguard import Call, Client
from genguard.clock import FakeClock
from genguard.errors import CircuitOpen, ProviderUnavailable
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.observe import Observer
from genguard.sim import Simulator
from genguard.sim.log import max_in_window
from support import drive, provider_for

CONCURRENCY = 16
FAIL_MAX = 5
RESET_TIMEOUT = 1.0
PROBES = 1
OUTAGE = 5.0


@dataclass
class Timeline(Observer):
    """Breaker changes, stamped on the clock the simulator's log uses."""

    clock: FakeClock
    changes: list[tuple[float, str, str, str]] = field(default_factory=list)

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        self.changes.append((self.clock.now(), old, new, reason))


@dataclass
class Tally:
    served: int = 0
    refused: int = 0
    failed: int = 0


async def caller(client: Client, clock: FakeClock, stop_at: float, tally: Tally, i: int) -> None:
    n = 0
    while clock.now() < stop_at:
        n += 1
        try:
            await client.generate(f"a lighthouse, caller {i}, take {n}")
            tally.served += 1
            await clock.sleep(0.01)  # a caller's think time: requests are spread in time
        except CircuitOpen as refused:
            tally.refused += 1
            # Come back when a probe may be admitted (half-open: poll briefly).
            await clock.sleep(max(0.01, refused.retry_at - clock.now()))
        except ProviderUnavailable:
            tally.failed += 1
            await clock.sleep(0.01)


async def test_outage_sheds_load_probes_once_per_interval_and_recovers_promptly() -> None:
    clock = FakeClock(start=0.0, auto=False)
    timeline, tally = Timeline(clock), Tally()
    # A fixed break (no doubling), so probes come once per RESET_TIMEOUT; the doubling
    # is tested on the store and in the whole-stack tests.
    breaker = CircuitBreakerLayer(
        fail_max=FAIL_MAX,
        reset_timeout=RESET_TIMEOUT,
        max_reset_timeout=RESET_TIMEOUT,
        half_open_probes=PROBES,
    )
    async with Simulator(profile="clean", clock=clock) as sim:
        provider = provider_for("gemini", sim.base_url)
        layers = [breaker, TimeoutLayer(5.0)]
        async with Client(provider, layers, observer=timeline, clock=clock) as client:
            await client.generate("warm-up")  # open the connection pool first
            sim.clear_log()
            t_switch = clock.now()
            sim.set_profile("outage", duration=OUTAGE)
            stop_at = t_switch + OUTAGE + RESET_TIMEOUT + 1.0
            callers = [caller(client, clock, stop_at, tally, i) for i in range(CONCURRENCY)]
            outcomes = await drive(clock, callers)
        assert outcomes == [None] * CONCURRENCY
        log = [r for r in sim.log if r.api == "gemini"]

    outage_end = t_switch + OUTAGE
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
    probes = [r for r in failed if r.time > tripped_at]
    assert 1 <= len(probes) <= PROBES * intervals
    assert max_in_window(probes, seconds=RESET_TIMEOUT) <= PROBES
    # ...while the callers kept asking: the breaker refused them instead.
    assert tally.refused > len(failed)

    # 2. Recovery: the first success reached the simulator within reset_timeout of the
    #    outage's end (no round trip to allow for: time stands still during one), and
    #    the breaker closed on it.
    first_ok = min(r.time for r in served)
    assert first_ok - outage_end <= RESET_TIMEOUT
    closed_at = [t for t, _, new, _ in timeline.changes if new == "closed"]
    assert len(closed_at) == 1
    assert closed_at[0] == first_ok
    # Full traffic after closing: every caller got through again.
    assert len({r.prompt.split(",")[1] for r in served if r.time > closed_at[0]}) == CONCURRENCY

    reasons = [reason for _, _, _, reason in timeline.changes]
    assert reasons[0] == "consecutive_failures" and reasons[-1] == "probes_succeeded"
