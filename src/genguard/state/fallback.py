"""Switching between shared (remote) state and local state when the shared backend fails.

A shared store (Redis) is an optimisation of a fleet's accuracy, not a
dependency every call should die with. ``BackendSwitch`` runs each store
operation on the remote backend while it answers; on a backend error it either
refuses (``fail_closed``: ``StateUnavailable``) or moves to the local in-memory
store (``local``) with one warning and one ``backend_error`` event per outage.
While local, one operation every ``recheck_interval`` seconds tries the remote
backend again (the others stay local meanwhile, so a dead backend costs at most
one bounded attempt per interval), and the first success moves back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from ..clock import Clock, SystemClock
from ..deadline import current_call
from ..errors import ConfigError, StateUnavailable
from ..observe import NOOP_OBSERVER, Observer

OnBackendError = Literal["local", "fail_closed"]
ON_BACKEND_ERROR: tuple[OnBackendError, ...] = ("local", "fail_closed")

T = TypeVar("T")

logger = logging.getLogger("genguard.state")


def check_mode(value: object) -> OnBackendError:
    """``on_backend_error`` validated (a ``ConfigError`` naming the field otherwise)."""
    if value == "local":
        return "local"
    if value == "fail_closed":
        return "fail_closed"
    raise ConfigError("state.on_backend_error", f"must be 'local' or 'fail_closed', got {value!r}")


class BackendSwitch:
    """Remote while it works; on failure local (or refuse), and back once it answers again.

    ``errors`` counts backend failures, ``fallbacks`` the switches to local,
    ``recoveries`` the switches back. ``degraded`` is True while local.

    Events go to the observer of the call running in this task (``call.observer``:
    what the telemetry layer listens to), and to ``observer`` too unless that call's
    observer already forwards to it; outside any call, to ``observer`` alone.
    """

    __slots__ = (
        "_clock",
        "_probing",
        "_retry_at",
        "component",
        "degraded",
        "errors",
        "fallbacks",
        "mode",
        "observer",
        "recheck_interval",
        "recoveries",
    )

    def __init__(
        self,
        component: str,
        *,
        mode: OnBackendError = "local",
        recheck_interval: float = 1.0,
        observer: Observer | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.component = component
        self.mode = check_mode(mode)
        if not isinstance(recheck_interval, int | float) or not recheck_interval > 0:
            raise ConfigError(
                "state.recheck_interval", f"must be > 0 seconds, got {recheck_interval!r}"
            )
        self.recheck_interval = float(recheck_interval)
        self.observer = observer or NOOP_OBSERVER
        self._clock: Clock = clock or SystemClock()
        self.degraded = False
        self._retry_at = 0.0
        self._probing = False
        self.errors = 0
        self.fallbacks = 0
        self.recoveries = 0

    def use_remote(self) -> bool:
        """Whether this operation goes to the remote backend (marks a recheck in flight)."""
        if not self.degraded:
            return True
        if self._probing or self._clock.now() < self._retry_at:
            return False
        self._probing = True
        return True

    async def run(
        self,
        remote: Callable[[], Awaitable[T]],
        local: Callable[[], Awaitable[T]],
        errors: tuple[type[BaseException], ...],
    ) -> T:
        """``remote()`` if the backend is usable, else (or on one of ``errors``) ``local()``."""
        if self.use_remote():
            try:
                result = await remote()
            except errors as error:
                self.failed(error)  # raises StateUnavailable when failing closed
            else:
                self.succeeded()
                return result
            finally:
                self._probing = False
        return await local()

    def failed(self, error: BaseException) -> None:
        """Record a backend failure: refuse (``fail_closed``) or go local until the next recheck."""
        self.errors += 1
        self._probing = False
        self._retry_at = self._clock.now() + self.recheck_interval
        if self.mode == "fail_closed":
            for observer in self._observers():
                observer.backend_error(self.component, error, "fail_closed")
            raise StateUnavailable(
                f"{self.component}: shared state unavailable ({type(error).__name__}); "
                "on_backend_error is fail_closed",
                component=self.component,
            ) from error
        if not self.degraded:
            self.degraded = True
            self.fallbacks += 1
            logger.warning(
                "genguard %s: shared state unavailable (%s); using local state, "
                "rechecking every %gs",
                self.component,
                type(error).__name__,
                self.recheck_interval,
            )
            for observer in self._observers():
                observer.backend_error(self.component, error, "local")

    def succeeded(self) -> None:
        self._probing = False
        if self.degraded:
            self.degraded = False
            self.recoveries += 1
            logger.warning("genguard %s: shared state is back; leaving local state", self.component)
            for observer in self._observers():
                observer.notice(None, "state_backend_recovered", component=self.component)

    def _observers(self) -> tuple[Observer, ...]:
        """Where this switch's events go now: the running call's observer first."""
        call = current_call()
        if call is None:
            return (self.observer,)
        here = call.observer
        if self.observer is NOOP_OBSERVER or here.reaches(self.observer):
            return (here,)
        return (here, self.observer)

    def __repr__(self) -> str:
        where = "local" if self.degraded else "remote"
        return f"BackendSwitch({self.component!r}, mode={self.mode!r}, using={where})"


__all__ = ["ON_BACKEND_ERROR", "BackendSwitch", "OnBackendError", "check_mode"]
