"""Rate-limit and breaker state on Redis, so a fleet of replicas shares one quota and one breaker.

``RedisLimiterBackend`` implements ``LimiterBackend`` and ``RedisBreakerStore``
implements ``BreakerStore`` with one atomic Lua script per method (see
``redis_scripts``): a caller's slot is booked in one round trip and it sleeps
once, a 429 pauses the key for every replica, a trip in one replica sheds load
in all, and half-open probe slots are counted (and leased) fleet-wide. Time is
Redis ``TIME``, so replica clocks need not agree.

Async throughout (``redis.asyncio``), every command bounded by
``connect_timeout + command_timeout``. When Redis fails, ``on_backend_error``
decides: ``local`` carries on with in-memory state (one warning and one
``backend_error`` event per outage, rechecking Redis every
``recheck_interval``), ``fail_closed`` raises ``StateUnavailable``.

Keys: ``{namespace}:rl:{<key>}...`` and ``{namespace}:cb:{<key>}...``, each with
a TTL refreshed on write, so abandoned keys expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, Self, TypeVar, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from ..clock import Clock, SystemClock
from ..deadline import remaining_budget
from ..errors import ConfigError, DeadlineExceeded, StateUnavailable
from ..masking import mask_url as _mask_url
from ..observe import Observer
from . import limiter as _limiter
from .breaker import (
    Admission,
    BreakerPolicy,
    BreakerSnapshot,
    BreakerState,
    MemoryBreakerStore,
    Outcome,
    Permit,
    Transition,
)
from .fallback import BackendSwitch, OnBackendError, check_mode
from .limiter import Demand, MemoryLimiterBackend, Reason, Reservation
from .options import DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_NAMESPACE
from .redis_scripts import BREAKER_SCRIPTS, LIMITER_SCRIPTS
from .resource import AsyncResource

#: What counts as "Redis failed" (connection refused or reset, timeouts, READONLY, OOM...).
BACKEND_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

#: Idle seconds after which a key's state expires (refreshed on every write).
DEFAULT_TTL = 3600.0
#: How long a half-open probe slot is held for a process that never reports back.
DEFAULT_PROBE_LEASE = 120.0
DEFAULT_RECHECK_INTERVAL = 1.0
#: Share of the call's remaining deadline one Redis command may use, so a frozen Redis is
#: detected (and the store falls back) while the call still has time to run locally.
DEADLINE_SHARE = 0.5
#: Below this many seconds of budget a command is not sent: the call has no time left.
MIN_BUDGET = 0.005
#: Pooled connections per process; a command is ~0.1 ms, so a few dozen serve thousands of calls/s.
DEFAULT_MAX_CONNECTIONS = 32

#: The memory backend's admission guard, mirrored so both backends answer alike.
_WINDOW = float(getattr(_limiter, "WINDOW", 1.0))
_GUARD_MARGIN = float(getattr(_limiter, "GUARD_MARGIN", 0.0))

_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_STATES: dict[str, BreakerState] = {"closed": "closed", "open": "open", "half_open": "half_open"}


def mask_url(url: str) -> str:
    """``url`` with its password (userinfo or ``?password=``) replaced by ``***``."""
    return _mask_url(url)


def _positive(name: str, value: object) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"state.{name}", f"must be a number of seconds > 0, got {value!r}")
    return float(value)


def _namespace(value: object) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ConfigError("state.namespace", f"must be a non-empty word, got {value!r}")
    return value


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fmt(value: float) -> str:
    return repr(float(value))


class _Lua:
    """One script: called by EVALSHA, loaded on NOSCRIPT (first use, or after a restart)."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class RedisConnection:
    """A ``redis.asyncio`` client with bounded connect/command times, shared by the stores.

    Counts ``round_trips`` (commands sent). Closed when the last store using it closes
    (``owns_client`` False leaves a client passed in open).
    """

    def __init__(
        self,
        client: Redis,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        owns_client: bool = True,
        url: str | None = None,
    ) -> None:
        self.client = client
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        self.command_timeout = _positive("command_timeout", command_timeout)
        self.owns_client = owns_client
        self.url = mask_url(url) if url else None
        self.round_trips = 0
        self._users = 0
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> RedisConnection:
        """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``) that never
        retries by itself: a failed command fails at once and the store decides.

        At most ``max_connections`` connections; more concurrent commands wait
        for one (up to ``connect_timeout``) instead of failing.
        """
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigError(
                "state.max_connections", f"must be an integer >= 1, got {max_connections!r}"
            )
        if not isinstance(url, str) or not url:
            raise ConfigError("state.url", "must be a Redis URL such as redis://localhost:6379/0")
        connect = _positive("connect_timeout", connect_timeout)
        command = _positive("command_timeout", command_timeout)
        try:
            pool = BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=connect,  # waiting for a free pooled connection
                socket_connect_timeout=connect,
                socket_timeout=command,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
                client_name="genguard",
            )
        except ValueError as exc:
            raise ConfigError("state.url", f"invalid Redis URL {mask_url(url)!r}: {exc}") from None
        client = Redis.from_pool(pool)
        return cls(client, connect_timeout=connect, command_timeout=command, url=url)

    def use(self) -> RedisConnection:
        self._users += 1
        return self

    def budget(self) -> float:
        """Seconds one command may take: ``connect_timeout + command_timeout``, or a share
        of what is left of the running call's deadline if that is less.

        A Redis that stops answering must fail *as a backend error* (so the store
        switches to local state or, failing closed, raises ``StateUnavailable``)
        before the call's deadline cancels the command and nobody learns why.
        """
        budget = self.connect_timeout + self.command_timeout
        left = remaining_budget()
        if left is not None:
            budget = min(budget, left * DEADLINE_SHARE)
        return budget

    async def run(self, lua: _Lua, keys: Sequence[str], args: Sequence[str]) -> Any:
        """Run ``lua`` atomically; raises one of ``BACKEND_ERRORS`` when Redis fails."""
        budget = self.budget()
        if budget < MIN_BUDGET:
            raise DeadlineExceeded("no time left in the call's deadline for a shared-state call")
        try:
            async with asyncio.timeout(budget):
                try:
                    return await self._evalsha(lua, keys, args)
                except RedisConnectionError:
                    # A pooled connection that outlived a Redis restart fails once; the pool
                    # drops it. Try once more on a fresh one before calling Redis down.
                    return await self._evalsha(lua, keys, args)
        except BACKEND_ERRORS:
            # The server may have died or restarted: idle pooled connections are stale,
            # and each would fail once more after Redis is back. Drop them now.
            with contextlib.suppress(*BACKEND_ERRORS):
                await self.client.connection_pool.disconnect(inuse_connections=False)
            raise

    async def _evalsha(self, lua: _Lua, keys: Sequence[str], args: Sequence[str]) -> Any:
        self.round_trips += 1
        try:
            return await self.client.evalsha(lua.sha, len(keys), *keys, *args)
        except NoScriptError:
            self.round_trips += 2
            await cast(Awaitable[Any], self.client.script_load(lua.source))
            return await self.client.evalsha(lua.sha, len(keys), *keys, *args)

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0 and not self._closed:
            self._closed = True
            if self.owns_client:
                await self.client.aclose()

    def __repr__(self) -> str:
        return f"RedisConnection(url={self.url!r})"


def _connection(
    connection: RedisConnection | Redis,
    connect_timeout: float,
    command_timeout: float,
) -> RedisConnection:
    if isinstance(connection, RedisConnection):
        return connection.use()
    return RedisConnection(
        connection,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
        owns_client=False,
    ).use()


# -- the rate limiter -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Booking:
    """A booking held in Redis (the reservation's token)."""

    id: str
    demands: tuple[Demand, ...] = field(repr=False)


class _Closable(Protocol):
    async def aclose(self) -> None: ...


LocalT = TypeVar("LocalT", bound=_Closable)


class _SharedStore(AsyncResource, Generic[LocalT]):
    """What both shared stores have: one Redis connection, a local fallback, the switch
    between them, and a namespace and TTL for their keys."""

    component: str

    def __init__(
        self,
        connection: RedisConnection | Redis,
        *,
        local: LocalT,
        namespace: str = DEFAULT_NAMESPACE,
        on_backend_error: OnBackendError = "local",
        ttl: float = DEFAULT_TTL,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        observer: Observer | None = None,
    ) -> None:
        self.namespace = _namespace(namespace)
        self.ttl = _positive("ttl", ttl)
        self.connection = _connection(connection, connect_timeout, command_timeout)
        self.local: LocalT = local
        self._closed = False
        self.switch = BackendSwitch(
            self.component,
            mode=check_mode(on_backend_error),
            recheck_interval=recheck_interval,
            observer=observer,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        **options: Any,
    ) -> Self:
        """A store with its own connection to ``url`` (options as for the constructor)."""
        connection = RedisConnection.from_url(
            url,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            max_connections=max_connections,
        )
        return cls(connection, **options)

    @property
    def degraded(self) -> bool:
        """True while running on local state because Redis failed."""
        return self.switch.degraded

    async def aclose(self) -> None:
        """Close the local fallback and give up this store's use of the connection (closed
        with its last user). Idempotent, so a store shared by two owners closes once."""
        if self._closed:
            return
        self._closed = True
        await self.local.aclose()
        await self.connection.release()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self.connection.url!r}, namespace={self.namespace!r}, "
            f"on_backend_error={self.switch.mode!r})"
        )


class RedisLimiterBackend(_SharedStore[MemoryLimiterBackend]):
    """``LimiterBackend`` on Redis: one GCRA schedule per key and limit, shared fleet-wide.

    ``clock``: None uses Redis server time (the fleet agrees whatever the replica
    clocks say); a ``Clock`` sends its readings instead (tests, one-host setups).
    The local fallback is a ``MemoryLimiterBackend`` on ``clock`` (or the system's).
    """

    component = "rate_limit"

    def __init__(
        self,
        connection: RedisConnection | Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        on_backend_error: OnBackendError = "local",
        ttl: float = DEFAULT_TTL,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        clock: Clock | None = None,
        observer: Observer | None = None,
        local: MemoryLimiterBackend | None = None,
    ) -> None:
        super().__init__(
            connection,
            local=local or MemoryLimiterBackend(clock=clock or SystemClock()),
            namespace=namespace,
            on_backend_error=on_backend_error,
            ttl=ttl,
            recheck_interval=recheck_interval,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            observer=observer,
        )
        self.clock = clock
        self._eps = "1e-9" if clock is not None else "1e-6"
        self._lua = {name: _Lua(name, source) for name, source in LIMITER_SCRIPTS.items()}

    def keys(self, key: str, demands: Sequence[Demand] = ()) -> list[str]:
        """The Redis keys of ``key``: state hash, booking queue, bookings, one log per limit."""
        base = f"{self.namespace}:rl:{{{key}}}"
        return [
            f"{base}",
            f"{base}:q",
            f"{base}:b",
            *(f"{base}:log:{d.limit.name}" for d in demands),
        ]

    def _head(self) -> list[str]:
        now = "" if self.clock is None else _fmt(self.clock.now())
        return [now, self._eps, _fmt(self.ttl), _fmt(_WINDOW), _fmt(_GUARD_MARGIN)]

    @staticmethod
    def _demand_args(demands: Sequence[Demand]) -> list[str]:
        out = [str(len(demands))]
        for limit, amount in demands:
            if not _NAME.fullmatch(limit.name):
                raise ValueError(f"limit name {limit.name!r}: use letters, digits, _ . -")
            out += [limit.name, _fmt(limit.rate), _fmt(limit.capacity), _fmt(amount)]
        return out

    async def reserve(
        self, key: str, demands: Sequence[Demand], *, max_wait: float | None = None
    ) -> Reservation:
        wanted = tuple(d for d in demands if d.amount > 0)

        async def remote() -> Reservation:
            args = [*self._head(), "" if max_wait is None else _fmt(max_wait)]
            reply = await self.connection.run(
                self._lua["reserve"], self.keys(key, wanted), args + self._demand_args(wanted)
            )
            granted = int(reply[0]) == 1
            wait = float(_text(reply[1]))
            reason = _reason(reply[2])
            token = _Booking(_text(reply[3]), wanted) if granted and wait > 0 else None
            return Reservation(key, granted, wait, reason, token)

        async def local() -> Reservation:
            return await self.local.reserve(key, demands, max_wait=max_wait)

        return await self.switch.run(remote, local, BACKEND_ERRORS)

    async def refund(self, key: str, demands: Sequence[Demand]) -> None:
        """Give back what an admitted attempt took when the provider refused it."""
        given = tuple(d for d in demands if d.amount > 0)
        if not given:
            return

        async def remote() -> None:
            args = [*self._head(), *self._demand_args(given)]
            await self.connection.run(self._lua["refund"], self.keys(key, given), args)

        async def local() -> None:
            await self.local.refund(key, given)

        await self.switch.run(remote, local, BACKEND_ERRORS)

    async def confirm(self, reservation: Reservation) -> Reservation:
        booking = reservation.token
        if not isinstance(booking, _Booking):
            return await self.local.confirm(reservation)
        key = reservation.key

        async def remote() -> Reservation:
            args = [*self._head(), booking.id, *self._demand_args(booking.demands)]
            reply = await self.connection.run(
                self._lua["confirm"], self.keys(key, booking.demands), args
            )
            return Reservation(key, True, float(_text(reply[0])), _reason(reply[1]), booking)

        async def admit() -> Reservation:
            # Redis went away while this caller slept: its slot was booked fleet-wide, go.
            return Reservation(key, True, 0.0, "rate", booking)

        return await self.switch.run(remote, admit, BACKEND_ERRORS)

    async def cancel(self, reservation: Reservation) -> None:
        booking = reservation.token
        if not isinstance(booking, _Booking):
            await self.local.cancel(reservation)
            return
        if self.switch.degraded:
            return  # the slot stays a hole in the shared schedule; nothing to give back
        try:
            await self.connection.run(
                self._lua["cancel"], self.keys(reservation.key), [*self._head(), booking.id]
            )
        except BACKEND_ERRORS as error:
            # Giving a slot back is best effort: never mask the caller's own exit.
            with contextlib.suppress(StateUnavailable):
                self.switch.failed(error)

    async def pause(self, key: str, seconds: float) -> float:
        async def remote() -> float:
            args = [*self._head(), _fmt(max(0.0, seconds))]
            reply = await self.connection.run(self._lua["pause"], self.keys(key), args)
            return float(_text(reply))

        async def local() -> float:
            return await self.local.pause(key, seconds)

        return await self.switch.run(remote, local, BACKEND_ERRORS)

    async def paused_for(self, key: str) -> float:
        async def remote() -> float:
            reply = await self.connection.run(
                self._lua["paused_for"], self.keys(key)[:1], self._head()[:1]
            )
            return float(_text(reply))

        async def local() -> float:
            return await self.local.paused_for(key)

        return await self.switch.run(remote, local, BACKEND_ERRORS)


def _reason(value: object) -> Reason:
    return "paused" if _text(value) == "paused" else "rate"


# -- the circuit breaker --------------------------------------------------------------------


class RedisBreakerStore(_SharedStore[MemoryBreakerStore]):
    """``BreakerStore`` on Redis: the breaker's state machine per key, shared fleet-wide.

    Same semantics as ``MemoryBreakerStore`` (its counters and transitions,
    epochs for stale outcomes), plus probe slots leased for
    ``probe_lease`` seconds so a process that dies mid-probe cannot hold the
    breaker half-open forever. ``server_time`` False uses the callers' ``now``
    instead of Redis ``TIME`` (tests; one host). The local fallback is a
    ``MemoryBreakerStore``; outcomes of permits Redis issued are dropped while local.
    """

    component = "circuit_breaker"

    def __init__(
        self,
        connection: RedisConnection | Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        on_backend_error: OnBackendError = "local",
        ttl: float = DEFAULT_TTL,
        probe_lease: float = DEFAULT_PROBE_LEASE,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        server_time: bool = True,
        observer: Observer | None = None,
        local: MemoryBreakerStore | None = None,
    ) -> None:
        super().__init__(
            connection,
            local=local or MemoryBreakerStore(),
            namespace=namespace,
            on_backend_error=on_backend_error,
            ttl=ttl,
            recheck_interval=recheck_interval,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            observer=observer,
        )
        self.probe_lease = _positive("probe_lease", probe_lease)
        self.server_time = bool(server_time)
        self._background: set[asyncio.Future[None]] = set()
        self._lua = {name: _Lua(name, source) for name, source in BREAKER_SCRIPTS.items()}

    def keys(self, key: str) -> list[str]:
        """The Redis keys of ``key``: state hash, probe leases, failure-ratio window."""
        base = f"{self.namespace}:cb:{{{key}}}"
        return [base, f"{base}:p", f"{base}:w"]

    def _args(self, policy: BreakerPolicy, now: float) -> list[str]:
        ratio = policy.failure_ratio
        return [
            "" if self.server_time else _fmt(now),
            _fmt(self.ttl),
            _fmt(self.probe_lease),
            str(policy.consecutive_limit),
            _fmt(policy.reset_timeout),
            str(policy.half_open_probes),
            str(policy.success_threshold),
            "" if ratio is None else _fmt(ratio),
            _fmt(policy.window),
            str(policy.min_calls),
            _fmt(policy.max_reset_timeout),
        ]

    async def acquire(self, key: str, policy: BreakerPolicy, now: float) -> Admission:
        """Admit an attempt, or not. A caller cancelled while Redis is answering does not
        leak a probe slot: the answer is awaited in the background and a probe it
        granted is given back at once (not after ``probe_lease``)."""
        task = asyncio.ensure_future(self._acquire(key, policy, now))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._give_back_later(task, policy, now)
            raise

    def _give_back_later(
        self, task: asyncio.Future[Admission], policy: BreakerPolicy, now: float
    ) -> None:
        async def give_back() -> None:
            with contextlib.suppress(Exception):
                admission = await task
                permit = admission.permit
                if permit is not None and permit.probe:
                    await self.record(permit, "ignored", policy, now)

        background = asyncio.ensure_future(give_back())
        self._background.add(background)
        background.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await super().aclose()

    async def _acquire(self, key: str, policy: BreakerPolicy, now: float) -> Admission:
        async def remote() -> Admission:
            token = "r:" + os.urandom(8).hex()
            reply = await self.connection.run(
                self._lua["acquire"], self.keys(key), [*self._args(policy, now), token]
            )
            allowed, state = int(reply[0]) == 1, _state(reply[1])
            retry_after, epoch, probe = float(_text(reply[2])), int(reply[3]), int(reply[4]) == 1
            permit = Permit(key, epoch, probe, token if probe else "r") if allowed else None
            return Admission(permit, state, retry_after, _transitions(key, reply[5:]))

        async def local() -> Admission:
            return await self.local.acquire(key, policy, now)

        return await self.switch.run(remote, local, BACKEND_ERRORS)

    async def record(
        self, permit: Permit, outcome: Outcome, policy: BreakerPolicy, now: float
    ) -> tuple[Transition, ...]:
        token = permit.token
        if token is None or not token.startswith("r"):
            return await self.local.record(permit, outcome, policy, now)

        async def remote() -> tuple[Transition, ...]:
            args = [*self._args(policy, now), str(permit.epoch), "1" if permit.probe else "0"]
            reply = await self.connection.run(
                self._lua["record"], self.keys(permit.key), [*args, token, outcome]
            )
            return _transitions(permit.key, reply)

        async def drop() -> tuple[Transition, ...]:
            return ()  # Redis issued this permit and is gone: the outcome cannot be applied

        return await self.switch.run(remote, drop, BACKEND_ERRORS)

    async def snapshot(self, key: str, policy: BreakerPolicy, now: float) -> BreakerSnapshot:
        async def remote() -> BreakerSnapshot:
            reply = await self.connection.run(
                self._lua["snapshot"], self.keys(key), self._args(policy, now)
            )
            return BreakerSnapshot(
                key=key,
                state=_state(reply[0]),
                consecutive_failures=int(reply[1]),
                half_open_successes=int(reply[2]),
                probes_in_flight=int(reply[3]),
                window_calls=int(reply[4]),
                window_failures=int(reply[5]),
                retry_after=float(_text(reply[6])),
            )

        async def local() -> BreakerSnapshot:
            return await self.local.snapshot(key, policy, now)

        return await self.switch.run(remote, local, BACKEND_ERRORS)


def _state(value: object) -> BreakerState:
    return _STATES[_text(value)]


def _transitions(key: str, flat: Sequence[object]) -> tuple[Transition, ...]:
    items = [_text(v) for v in flat]
    return tuple(
        Transition(key, _STATES[items[i]], _STATES[items[i + 1]], items[i + 2])
        for i in range(0, len(items) - 2, 3)
    )


# -- configuration ---------------------------------------------------------------------------


class RedisState(NamedTuple):
    """Both Redis stores of one deployment, sharing one connection pool."""

    limiter: RedisLimiterBackend
    breaker: RedisBreakerStore


def from_config(
    state: object,
    *,
    clock: Clock | None = None,
    observer: Observer | None = None,
) -> RedisState:
    """Both stores from the ``state:`` section (an object or a mapping with ``url``,
    ``namespace``, ``on_backend_error``, ``connect_timeout``, ``command_timeout``,
    and optionally ``ttl``, ``probe_lease``, ``recheck_interval``, ``max_connections``)."""

    def get(name: str, default: Any) -> Any:
        if isinstance(state, Mapping):
            value = state.get(name, default)
        else:
            value = getattr(state, name, default)
        return default if value is None else value

    backend = get("backend", "redis")
    if backend != "redis":
        raise ConfigError("state.backend", f"from_config builds the redis backend, got {backend!r}")
    connection = RedisConnection.from_url(
        get("url", ""),
        connect_timeout=get("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        command_timeout=get("command_timeout", DEFAULT_COMMAND_TIMEOUT),
        max_connections=get("max_connections", DEFAULT_MAX_CONNECTIONS),
    )
    common: dict[str, Any] = {
        "namespace": get("namespace", DEFAULT_NAMESPACE),
        "on_backend_error": get("on_backend_error", "local"),
        "ttl": get("ttl", DEFAULT_TTL),
        "recheck_interval": get("recheck_interval", DEFAULT_RECHECK_INTERVAL),
        "observer": observer,
    }
    limiter = RedisLimiterBackend(connection, clock=clock, **common)
    breaker = RedisBreakerStore(
        connection, probe_lease=get("probe_lease", DEFAULT_PROBE_LEASE), **common
    )
    return RedisState(limiter, breaker)


__all__ = [
    "BACKEND_ERRORS",
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_PROBE_LEASE",
    "DEFAULT_RECHECK_INTERVAL",
    "DEFAULT_TTL",
    "RedisBreakerStore",
    "RedisConnection",
    "RedisLimiterBackend",
    "RedisState",
    "from_config",
    "mask_url",
]
