"""Retry hints the simulator sends, and the accounting of clients that ignore them.

Every response passes through ``hint_of`` so scripted replies and verbatim
fixtures are accounted exactly like profile faults: whatever hint left the
server is the hint the client must honour.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

DateForm = Literal["imf", "rfc850", "asctime"]
DATE_FORMS: tuple[DateForm, ...] = ("imf", "rfc850", "asctime")

TOLERANCE = 0.010  # seconds a relative hint may be undercut before it counts

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DURATION = re.compile(r"^(\d+)(?:\.(\d{1,9}))?s$")


def format_http_date(epoch: float, form: DateForm = "imf") -> str:
    """An HTTP-date in one of RFC 9110's three forms (English names, always GMT)."""
    t = time.gmtime(int(epoch))
    day, mon = _DAYS[t.tm_wday], _MONTHS[t.tm_mon - 1]
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if form == "imf":
        return f"{day}, {t.tm_mday:02d} {mon} {t.tm_year} {clock} GMT"
    if form == "rfc850":
        return f"{_LONG_DAYS[t.tm_wday]}, {t.tm_mday:02d}-{mon}-{t.tm_year % 100:02d} {clock} GMT"
    if form == "asctime":
        return f"{day} {mon} {t.tm_mday:2d} {clock} {t.tm_year}"
    raise ValueError(f"unknown HTTP-date form {form!r}")


def parse_duration(value: str) -> float | None:
    """A protobuf Duration ("1.5s") in seconds, or None."""
    m = _DURATION.match(value)
    if m is None:
        return None
    return int(m.group(1)) + (int(m.group(2).ljust(9, "0")) / 1e9 if m.group(2) else 0.0)


@dataclass(frozen=True, slots=True)
class Hint:
    """When the client may come back: ``mono`` (monotonic), and for an HTTP-date
    the exact ``wall`` time it names (compared without tolerance)."""

    seconds: float
    mono: float
    wall: float | None = None

    def violated_by(self, now_mono: float, now_wall: float) -> bool:
        if self.wall is not None:
            return now_wall < self.wall
        return now_mono < self.mono - TOLERANCE


def hint_of(headers: Mapping[str, str], body: Any, now_mono: float, now_wall: float) -> Hint | None:
    """The most lenient hint in a response (a client honouring any one complies)."""
    found: list[Hint] = []
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            found.append(Hint(value, now_mono + value))
    ra = lower.get("retry-after")
    if ra is not None:
        ra = ra.strip()
        if ra.isascii() and ra.isdigit():  # "²".isdigit() is True too
            found.append(Hint(float(ra), now_mono + int(ra)))
        else:
            try:
                parsed = email.utils.parsedate_tz(ra)
                epoch = email.utils.mktime_tz(parsed) if parsed else None
            except (TypeError, ValueError, OverflowError):
                epoch = None
            if epoch is not None:
                delay = max(0.0, epoch - now_wall)
                found.append(Hint(delay, now_mono + delay, wall=float(epoch)))
    if isinstance(body, dict):
        error = body.get("error")
        details = error.get("details") if isinstance(error, dict) else None
        if isinstance(details, list):
            for d in details:
                if (
                    isinstance(d, dict)
                    and str(d.get("@type", "")).endswith("google.rpc.RetryInfo")
                    and isinstance(d.get("retryDelay"), str)
                ):
                    seconds = parse_duration(d["retryDelay"])
                    if seconds is not None:
                        found.append(Hint(seconds, now_mono + seconds))
    if not found:
        return None
    return min(found, key=lambda h: h.mono)


class RetryAccounting:
    """``not_before`` per request identity; counts retries that arrive too early.

    Identity is (api, api key, digest of the request). A request is a violation
    when an earlier response to the same identity carried a hint and it arrives
    before that hint allows (10 ms tolerance; an HTTP-date is exact).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._not_before: dict[Hashable, Hint] = {}
        self._max = max_entries
        self.violations = 0

    def check(self, identity: Hashable, now_mono: float, now_wall: float) -> bool:
        hint = self._not_before.get(identity)
        if hint is not None and hint.violated_by(now_mono, now_wall):
            self.violations += 1
            return True
        return False

    def update(self, identity: Hashable, hint: Hint | None, now_mono: float) -> None:
        if hint is None:
            self._not_before.pop(identity, None)
            return
        self._not_before[identity] = hint
        if len(self._not_before) > self._max:
            self._prune(now_mono)

    def _prune(self, now_mono: float) -> None:
        horizon = now_mono - 1.0
        self._not_before = {k: v for k, v in self._not_before.items() if v.mono > horizon}
        while len(self._not_before) > self._max:
            self._not_before.pop(next(iter(self._not_before)))

    def clear(self) -> None:
        self._not_before.clear()
        self.violations = 0
