"""What the simulator saw: one small record per request, and window queries over them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Api = Literal["gemini", "openai", "moderations"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as received and answered.

    ``time`` is the simulator clock's ``now()`` at arrival; ``status`` is 0 when the
    connection was reset before headers; ``body`` is the parsed JSON (or, for
    multipart, ``{"fields": {...}, "files": [...]}`` with file sizes, not bytes);
    ``hint`` is the retry hint sent with the response, in seconds.
    """

    time: float
    api: Api
    path: str
    model: str | None
    prompt: str | None
    status: int
    body: Any
    retry_after_violation: bool
    hint: float | None = None


def max_in_window(
    records: Sequence[RequestRecord],
    seconds: float = 1.0,
    api: str | None = None,
    statuses: Iterable[int] | None = None,
) -> int:
    """The largest number of matching requests whose arrival times fit in any
    half-open window ``[t, t + seconds)``."""
    if seconds <= 0:
        raise ValueError("seconds must be > 0")
    wanted = None if statuses is None else frozenset(statuses)
    times = sorted(
        r.time
        for r in records
        if (api is None or r.api == api) and (wanted is None or r.status in wanted)
    )
    best = 0
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best
