"""Redis stores whose recheck timer runs on a fake clock the test advances."""

from __future__ import annotations

from genguard.clock import FakeClock
from genguard.observe import Observer
from genguard.state.fallback import BackendSwitch
from genguard.state.redis import RedisBreakerStore, RedisLimiterBackend

#: The recheck interval on the fake clock (only ``advance`` reaches it).
RECHECK = 30.0


def recheck_on_fake_time(
    store: RedisLimiterBackend | RedisBreakerStore,
    observer: Observer | None = None,
    clock: FakeClock | None = None,
) -> FakeClock:
    """Put the store's recheck timer on a fake clock: Redis is retried only when the test
    advances it, so what is counted cannot depend on how fast the machine is."""
    clock = clock or FakeClock(auto=False)
    store.switch = BackendSwitch(
        store.switch.component,
        mode=store.switch.mode,
        recheck_interval=RECHECK,
        observer=observer or store.switch.observer,
        clock=clock,
    )
    return clock
