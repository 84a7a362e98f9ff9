"""Fault profiles: each decides, per request, whether to answer normally or not.

A profile returns ``None`` (serve the normal success) or a ``Reply``. Profiles
apply to the image endpoints (Gemini and OpenAI), never to moderations, so a
safety classifier in front of a faulty provider still gets clean answers.
Randomness is seeded: the same seed and the same request order give the same
faults.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from . import wire
from .hints import DATE_FORMS, DateForm, format_http_date
from .imagen import PREDICT
from .png import cached_png
from .replies import Reply
from .requests import SimRequest

# Words that moderations flag, and the categories they flag. The safety profile
# blocks the same words by default. Chosen so no ordinary prompt contains one.
DEFAULT_FLAG_WORDS: Mapping[str, tuple[str, ...]] = {
    "violence-test": ("violence", "violence/graphic"),
    "sexual-test": ("sexual",),
    "minors-test": ("sexual", "sexual/minors"),
    "hate-test": ("hate",),
    "harassment-test": ("harassment", "harassment/threatening"),
    "self-harm-test": ("self-harm", "self-harm/intent"),
    "illicit-test": ("illicit", "illicit/violent"),
}


def flagged_categories(text: str, words: Mapping[str, Sequence[str]]) -> list[str]:
    """Categories of every configured word found in ``text`` (case-insensitive)."""
    lowered = text.lower()
    found: list[str] = []
    for word, cats in words.items():
        if word.lower() in lowered:
            found.extend(c for c in cats if c not in found)
    return found


def prompt_fraction(prompt: str, salt: str = "") -> float:
    """A stable number in [0, 1) for a prompt: same prompt, same number, always."""
    digest = hashlib.sha256((salt + prompt).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Profile(Protocol):
    name: str

    def start(self, now: float) -> None: ...

    def decide(self, req: SimRequest, now: float) -> Reply | None: ...


class Clean:
    """Every request succeeds."""

    name = "clean"

    def __init__(self, seed: int = 0) -> None:
        del seed

    def start(self, now: float) -> None:
        del now

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        return None


class Flaky:
    """Seeded-random 503s and 429s with short hints (and, optionally, resets)."""

    name = "flaky"

    def __init__(
        self,
        failure_rate: float = 0.3,
        seed: int = 0,
        max_hint: float = 1.0,
        resets: float = 0.0,
    ) -> None:
        _check_fraction("failure_rate", failure_rate)
        _check_fraction("resets", resets)
        if not 0.05 <= max_hint <= 60:
            raise ValueError("max_hint must be in [0.05, 60]")
        self.failure_rate = failure_rate
        self.max_hint = max_hint
        self.resets = resets
        self._rng = random.Random(seed)

    def start(self, now: float) -> None:
        del now

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        rng = self._rng
        if rng.random() >= self.failure_rate:
            return None
        if self.resets and rng.random() < self.resets:
            return Reply.reset()
        kind = rng.random()
        hint = round(0.05 + rng.random() * (self.max_hint - 0.05), 3)
        whole = str(max(0, math.floor(self.max_hint)))
        if req.api == "gemini":
            if kind < 0.35:
                return Reply.status(503)
            if kind < 0.6:
                return Reply.status(503, retry_after=whole)
            return Reply.status(429, retry_info=wire.format_duration(hint))
        if kind < 0.35:
            return Reply.status(503)
        if kind < 0.5:
            return Reply.status(503, retry_after=whole)
        if kind < 0.75:
            return Reply.status(429, retry_after=whole)
        return Reply.status(429, retry_after_ms=int(hint * 1000))


class RateLimit:
    """A real token bucket per (API, API key): ``rate`` per second, ``burst`` deep.

    Over the limit, Gemini gets 429 RESOURCE_EXHAUSTED with ``RetryInfo`` equal to
    the time until a slot frees (no header), OpenAI gets 429 rate_limit_exceeded
    with ``retry-after-ms``, ``retry-after`` (ceil seconds) and ``x-ratelimit-*``.
    """

    name = "ratelimit"

    def __init__(self, rate: float = 20.0, burst: int = 1, seed: int = 0) -> None:
        del seed
        if not rate > 0:
            raise ValueError("rate must be > 0")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self._buckets: dict[tuple[str, str | None], tuple[float, float]] = {}

    def start(self, now: float) -> None:
        self._buckets.clear()

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        key = (req.api, req.key)
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            self._buckets[key] = (tokens, now)
            if req.api == "openai":
                return Reply.ok(headers=self._headers(tokens))
            return None
        self._buckets[key] = (tokens, now)
        wait = (1.0 - tokens) / self.rate
        if req.api == "gemini":
            return Reply.status(
                429,
                retry_info=wire.format_duration(wait),
                body=wire.gemini_retry_info_error(req.model, wire.format_duration(wait), wait),
            )
        ms = math.ceil(wait * 1000)
        headers = self._headers(tokens)
        return Reply.status(
            429,
            retry_after=str(max(1, math.ceil(wait))),
            retry_after_ms=ms,
            headers=headers,
            body=wire.openai_rate_limited(req.model, wait),
        )

    def _headers(self, tokens: float) -> dict[str, str]:
        until_full = (self.burst - tokens) / self.rate
        return {
            "x-ratelimit-limit-requests": str(self.burst),
            "x-ratelimit-remaining-requests": str(math.floor(tokens)),
            "x-ratelimit-reset-requests": wire.format_go_duration(until_full),
            "x-ratelimit-limit-tokens": "10000000",
            "x-ratelimit-remaining-tokens": "9999000",
            "x-ratelimit-reset-tokens": "6ms",
        }


class HttpDate:
    """429/503 with ``Retry-After`` as an HTTP-date, rotating the three RFC forms.

    ``codes`` are the statuses used in turn (both by default; ``429`` alone is a
    server refusing a share of requests at random, with no quota behind it).

    The date is ``ceil(now + delay)`` (dates have 1-s resolution, and the date
    itself is the earliest allowed time).
    """

    name = "httpdate"

    def __init__(
        self,
        failure_rate: float = 0.5,
        forms: Sequence[str] = DATE_FORMS,
        delay: float = 1.0,
        seed: int = 0,
        wall: Callable[[], float] = time.time,
        codes: Sequence[int] | str = (429, 503),
    ) -> None:
        _check_fraction("failure_rate", failure_rate)
        if isinstance(codes, str):
            codes = [int(c) for c in codes.split(",") if c.strip()]
        if not codes or any(c not in (429, 503) for c in codes):
            raise ValueError(f"codes must be a non-empty list of 429 and/or 503, got {codes!r}")
        self.codes = tuple(codes)
        if isinstance(forms, str):
            forms = [f.strip() for f in forms.split(",")]
        bad = [f for f in forms if f not in DATE_FORMS]
        if bad or not forms:
            raise ValueError(f"forms must be a non-empty subset of {DATE_FORMS}, got {forms!r}")
        if not 0 <= delay <= 3600:
            raise ValueError("delay must be in [0, 3600]")
        self.failure_rate = failure_rate
        self.forms: tuple[DateForm, ...] = tuple(cast(DateForm, f) for f in forms)
        self.delay = delay
        self._rng = random.Random(seed)
        self._wall = wall
        self._count = 0

    def start(self, now: float) -> None:
        del now

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        if self._rng.random() >= self.failure_rate:
            return None
        form = self.forms[self._count % len(self.forms)]
        code = self.codes[self._count % len(self.codes)]
        self._count += 1
        date = format_http_date(math.ceil(self._wall() + self.delay), form)
        return Reply.status(code, retry_after=date)


class Outage:
    """Every request 503 for ``duration`` seconds from the start (or switch), then clean."""

    name = "outage"

    def __init__(
        self, duration: float = 5.0, retry_after: int | None = None, seed: int = 0
    ) -> None:
        del seed
        if duration < 0:
            raise ValueError("duration must be >= 0")
        self.duration = duration
        self.retry_after = retry_after
        self._start: float | None = None

    def start(self, now: float) -> None:
        self._start = now

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        if self._start is None:
            self._start = now
        if now - self._start < self.duration:
            return Reply.status(503, retry_after=self.retry_after)
        return None


class Slow:
    """A seeded ``fraction`` of responses stall ``delay`` s after the headers."""

    name = "slow"

    def __init__(self, fraction: float = 0.3, delay: float = 2.0, seed: int = 0) -> None:
        _check_fraction("fraction", fraction)
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.fraction = fraction
        self.delay = delay
        self._rng = random.Random(seed)

    def start(self, now: float) -> None:
        del now

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        if self._rng.random() < self.fraction:
            return Reply.delay(self.delay, before="body")
        return None


class EchoKey:
    """A hostile server: every image request succeeds, with the caller's API key
    reflected in each text field of the answer.

    Gemini: ``finishReason``, ``modelVersion`` ("model-<key>") and ``responseId``;
    OpenAI: ``revised_prompt``. Each answer still carries one valid PNG, so a
    client takes it as a success and must keep the key out of what it reports.
    Imagen (``:predict``) gets its normal answer: its format has no such field.
    """

    name = "echo-key"

    def __init__(self, seed: int = 0) -> None:
        del seed

    def start(self, now: float) -> None:
        del now

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        if req.options.get("method") == PREDICT:
            return None
        key = req.key or ""
        png = cached_png(8, 8, 0)[1]
        if req.api == "gemini":
            image = {"inlineData": {"mimeType": "image/png", "data": png}}
            candidate = {"content": {"parts": [image]}, "finishReason": key}
            return Reply.raw(
                200, {"candidates": [candidate], "modelVersion": f"model-{key}", "responseId": key}
            )
        return Reply.raw(200, {"created": 0, "data": [{"b64_json": png, "revised_prompt": key}]})


class Realistic:
    """Every image takes as long as a real one: a seeded ``min``-``max`` s (8-20 s by
    default) before the headers, as a real backend spends generating."""

    name = "realistic"

    def __init__(self, min_latency: float = 8.0, max_latency: float = 20.0, seed: int = 0) -> None:
        if not 0 <= min_latency <= max_latency <= 600:
            raise ValueError("need 0 <= min_latency <= max_latency <= 600")
        self.min_latency = min_latency
        self.max_latency = max_latency
        self._rng = random.Random(seed)

    def start(self, now: float) -> None:
        del now

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        spread = self.max_latency - self.min_latency
        return Reply.delay(self.min_latency + self._rng.random() * spread, before="headers")


class Safety:
    """Deterministic provider blocks: a prompt with a block word, or whose hash
    falls under ``fraction``, is blocked every time it is sent."""

    name = "safety"

    def __init__(
        self,
        block_words: Sequence[str] | None = None,
        fraction: float = 0.3,
        seed: int = 0,
    ) -> None:
        del seed
        _check_fraction("fraction", fraction)
        if isinstance(block_words, str):
            block_words = [w.strip() for w in block_words.split(",") if w.strip()]
        words = list(DEFAULT_FLAG_WORDS) if block_words is None else list(block_words)
        self.words = {w: DEFAULT_FLAG_WORDS.get(w, ("violence",)) for w in words}
        self.fraction = fraction

    def start(self, now: float) -> None:
        del now

    def blocked(self, prompt: str) -> tuple[str, ...] | None:
        """The categories a prompt is blocked for, or None if it passes."""
        cats = flagged_categories(prompt, self.words)
        if cats:
            return tuple(cats)
        if prompt_fraction(prompt) < self.fraction:
            options = ("violence", "sexual", "hate", "self-harm")
            return (options[int(prompt_fraction(prompt, "cat") * len(options))],)
        return None

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        cats = self.blocked(req.prompt)
        if cats is None:
            return None
        return Reply.blocked(categories=cats)


class DailyQuota:
    """A per-day quota per (API, API key) that runs out after ``images`` images.

    Once spent, every request is refused the way each API refuses a spent quota:
    Gemini 429 ``RESOURCE_EXHAUSTED`` with a ``QuotaFailure`` naming a per-day quota
    and a ``RetryInfo`` (which a client must not sleep on: the quota resets at
    midnight Pacific time), OpenAI 429 ``insufficient_quota``.
    """

    name = "quota"

    def __init__(self, images: int = 100, retry_info: float = 30.0, seed: int = 0) -> None:
        del seed
        if images < 0:
            raise ValueError("images must be >= 0")
        self.images = int(images)
        self.retry_info = retry_info
        self._used: dict[tuple[str, str | None], int] = {}

    def start(self, now: float) -> None:
        self._used.clear()

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        key = (req.api, req.key)
        used = self._used.get(key, 0)
        if used + req.n <= self.images:
            self._used[key] = used + req.n
            return None
        if req.api == "gemini":
            return Reply.status(429, body=wire.gemini_daily_quota_error(req.model, self.retry_info))
        return Reply.status(429, body=wire.openai_insufficient_quota())


class Soak:
    """A long run that switches between fault phases, each for its duration, in a loop.

    ``phases`` is a sequence of ``(profile name, seconds, options)``; the default
    cycles clean, flaky, a server rate limit, a 5 s outage and stalls. Each phase
    starts (its clocks, buckets) when it is switched in.
    """

    name = "soak"

    DEFAULT_PHASES: tuple[tuple[str, float, dict[str, Any]], ...] = (
        ("clean", 10.0, {}),
        ("flaky", 10.0, {}),
        ("ratelimit", 10.0, {"rate": 20.0}),
        ("outage", 5.0, {"duration": 5.0}),
        ("slow", 10.0, {"fraction": 0.1, "delay": 10.0}),
    )

    def __init__(
        self,
        phases: Sequence[tuple[str, float, Mapping[str, Any]]] | None = None,
        seed: int = 0,
    ) -> None:
        chosen = self.DEFAULT_PHASES if phases is None else tuple(phases)
        if not chosen:
            raise ValueError("phases must not be empty")
        built: list[tuple[float, Profile]] = []
        for name, seconds, options in chosen:
            if name == "soak" or not seconds > 0:
                raise ValueError(f"bad soak phase {name!r} ({seconds!r} s)")
            built.append((float(seconds), make_profile(name, seed, **dict(options))))
        self.phases = tuple(built)
        self.cycle = sum(seconds for seconds, _ in built)
        self._start: float | None = None
        self._current = -1

    def phase_at(self, now: float) -> int:
        """Index of the phase running at ``now``."""
        start = now if self._start is None else self._start
        offset = (now - start) % self.cycle
        for index, (seconds, _) in enumerate(self.phases):
            if offset < seconds:
                return index
            offset -= seconds
        return len(self.phases) - 1  # pragma: no cover - float rounding at the cycle's end

    def start(self, now: float) -> None:
        self._start = now
        self._current = -1

    def decide(self, req: SimRequest, now: float) -> Reply | None:
        if self._start is None:
            self.start(now)
        index = self.phase_at(now)
        profile = self.phases[index][1]
        if index != self._current:
            self._current = index
            profile.start(now)
        return profile.decide(req, now)


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


PROFILES: dict[str, Callable[..., Profile]] = {
    "clean": Clean,
    "flaky": Flaky,
    "ratelimit": RateLimit,
    "httpdate": HttpDate,
    "outage": Outage,
    "slow": Slow,
    "safety": Safety,
    "realistic": Realistic,
    "echo-key": EchoKey,
    "quota": DailyQuota,
    "soak": Soak,
}

#: The faults genguard's whole-stack tests and fault benchmark run under, by name:
#: ``(profile, options)`` at production scale.
FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "flaky": ("flaky", {}),
    "server-rate": ("ratelimit", {"rate": 20.0}),
    "random-429": ("httpdate", {"failure_rate": 0.3, "delay": 2.0, "codes": "429"}),
    "outage": ("outage", {"duration": 5.0}),
    "stall": ("slow", {"fraction": 0.1, "delay": 10.0}),
    "daily-quota": ("quota", {"images": 100}),
    "soak": ("soak", {}),
}


def make_profile(name: str, seed: int = 0, **options: Any) -> Profile:
    """Build a profile by name; unknown names or options raise ``ValueError``."""
    factory = PROFILES.get(name)
    if factory is None:
        raise ValueError(f"unknown simulator profile {name!r}; choose from {sorted(PROFILES)}")
    options.setdefault("seed", seed)
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for profile {name!r}: {exc}") from None
