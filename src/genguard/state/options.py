"""The ``state:`` section: where rate-limit buckets, breaker state and budgets live.

Declared here, apart from the Redis stores, so a policy file is read without the
``redis`` package installed; the stores take their defaults from these constants.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ..options import Duration, Options
from .fallback import OnBackendError

DEFAULT_NAMESPACE = "genguard"
DEFAULT_CONNECT_TIMEOUT = 1.0
DEFAULT_COMMAND_TIMEOUT = 0.5


class StateOptions(Options):
    doc: ClassVar[str] = "Where rate-limit buckets and breaker state live."

    backend: Literal["memory", "redis"] = Field(
        "memory", description="`memory` (one process) or `redis` (replicas share quota)."
    )
    url: str | None = Field(None, description="Redis URL; required for `redis`.")
    namespace: str = Field(
        DEFAULT_NAMESPACE, min_length=1, description="Prefix of every shared key."
    )
    on_backend_error: OnBackendError = Field(
        "local",
        description="When Redis fails: fall back to local state, or refuse calls.",
    )
    connect_timeout: Duration = Field(
        DEFAULT_CONNECT_TIMEOUT,
        gt=0,
        description="Bound on connecting to Redis (and waiting for a pooled connection).",
    )
    command_timeout: Duration = Field(
        DEFAULT_COMMAND_TIMEOUT,
        gt=0,
        description="Bound on one Redis command; past it, `on_backend_error` applies.",
    )

    @model_validator(mode="after")
    def _url_for_redis(self) -> StateOptions:
        if self.backend == "redis" and not self.url:
            raise ValueError("backend redis needs a url (e.g. ${REDIS_URL})")
        return self


__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_NAMESPACE",
    "StateOptions",
]
