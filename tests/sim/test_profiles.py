"""Each fault profile behaves as documented, over real HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
from collections import Counter

import aiohttp
import pytest

from genguard.clock import FakeClock
from genguard.sim import Simulator
from genguard.sim.hints import parse_duration
from genguard.sim.profiles import make_profile
from genguard.sim.requests import parse_gemini

from .conftest import gemini_body, post_gemini, post_openai


def _retry_info(body: dict) -> float | None:  # type: ignore[type-arg]
    for d in body.get("error", {}).get("details", []):
        if d.get("@type", "").endswith("RetryInfo"):
            return parse_duration(d["retryDelay"])
    return None


async def test_flaky_mixes_503_and_429_with_short_hints(http: aiohttp.ClientSession) -> None:
    async with Simulator("flaky", failure_rate=0.5, seed=7) as sim:
        gemini = [await post_gemini(http, sim.base_url, gemini_body(f"p{i}")) for i in range(120)]
        openai = [
            await post_openai(http, sim.base_url, {"prompt": f"p{i}", "model": "gpt-image-1"})
            for i in range(120)
        ]
    g_status = Counter(s for s, _, _ in gemini)
    o_status = Counter(s for s, _, _ in openai)
    assert set(g_status) == {200, 429, 503} and set(o_status) == {200, 429, 503}
    assert 0.35 < (g_status[429] + g_status[503]) / 120 < 0.65
    for status, headers, body in gemini:
        if status == 429:
            assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
            assert "retry-after" not in headers  # Gemini: the hint is only in the body
            delay = _retry_info(body)
            assert delay is not None and 0 < delay <= 1.0
        elif status == 503:
            assert body["error"]["status"] == "UNAVAILABLE"
            assert headers.get("retry-after", "1") in ("0", "1")
    kinds = set()
    for status, headers, body in openai:
        if status == 429:
            assert body["error"]["code"] == "rate_limit_exceeded"
            assert "retry-after" in headers or "retry-after-ms" in headers
            if "retry-after-ms" in headers:
                assert 0 < int(headers["retry-after-ms"]) <= 1000
                kinds.add("ms")
            else:
                assert headers["retry-after"] == "1"
                kinds.add("s")
        elif status == 503:
            assert body["error"]["type"] == "server_error"
    assert kinds == {"ms", "s"}
    assert sim.retry_after_violations == 0  # every prompt was distinct


async def test_flaky_is_deterministic_for_a_seed(http: aiohttp.ClientSession) -> None:
    async def run(seed: int) -> list[int]:
        async with Simulator("flaky", seed=seed) as sim:
            return [
                (await post_gemini(http, sim.base_url, gemini_body(f"x{i}")))[0] for i in range(40)
            ]

    first = await run(1)
    assert first == await run(1)
    assert first != await run(2)


async def test_flaky_can_reset_connections(http: aiohttp.ClientSession) -> None:
    async with Simulator("flaky", failure_rate=1.0, resets=1.0) as sim:
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_gemini(http, sim.base_url)
        assert sim.log[-1].status == 0


async def test_ratelimit_gemini_retry_info_is_exact(http: aiohttp.ClientSession) -> None:
    async with Simulator("ratelimit", rate=2, burst=1) as sim:
        status, _, _ = await post_gemini(http, sim.base_url, gemini_body("a"))
        assert status == 200
        status, headers, body = await post_gemini(http, sim.base_url, gemini_body("b"))
        assert status == 429 and "retry-after" not in headers
        assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
        delay = _retry_info(body)
        assert delay is not None and 0.3 < delay <= 0.5
        assert "Please retry in" in body["error"]["message"]
        # a different key has its own bucket
        status, _, _ = await post_gemini(http, sim.base_url, gemini_body("c"), key="other")
        assert status == 200
        await asyncio.sleep(delay)
        status, _, _ = await post_gemini(http, sim.base_url, gemini_body("b"))
        assert status == 200
        assert sim.retry_after_violations == 0


async def test_ratelimit_openai_headers(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(auto=False)
    async with Simulator("ratelimit", rate=1, burst=2, clock=clock) as sim:
        results = [await post_openai(http, sim.base_url, {"prompt": f"p{i}"}) for i in range(3)]
        clock.advance(0.25)
        s4, h4, _ = await post_openai(http, sim.base_url, {"prompt": "p3"})
    (s1, h1, _), (s2, h2, _), (s3, h3, b3) = results
    assert (s1, s2, s3) == (200, 200, 429)
    assert h1["x-ratelimit-limit-requests"] == "2" and h1["x-ratelimit-remaining-requests"] == "1"
    assert h2["x-ratelimit-remaining-requests"] == "0"
    assert b3["error"]["code"] == "rate_limit_exceeded"
    # No time passed on the fake clock: the next token is exactly 1 s away, a full bucket 2 s.
    assert int(h3["retry-after-ms"]) == 1000
    assert h3["retry-after"] == "1"
    assert h3["x-ratelimit-remaining-requests"] == "0"
    assert h3["x-ratelimit-reset-requests"] == "2s"
    # A quarter of a second later the hints have shrunk by exactly that much.
    assert s4 == 429 and int(h4["retry-after-ms"]) == 750
    assert re.fullmatch(r"1\.75?0*s", h4["x-ratelimit-reset-requests"])


async def test_ratelimit_caps_throughput(http: aiohttp.ClientSession) -> None:
    """8 callers offer 400/s of virtual time against 50/s with a burst of 5."""
    rate, burst, step, steps = 50, 5, 0.02, 30
    clock = FakeClock(auto=False)
    async with Simulator("ratelimit", rate=rate, burst=burst, clock=clock) as sim:
        for i in range(steps):
            await asyncio.gather(
                *(post_gemini(http, sim.base_url, gemini_body(f"q{w}-{i}")) for w in range(8))
            )
            clock.advance(step)
        elapsed = sim.log[-1].time - sim.log[0].time
        ok = sum(1 for r in sim.log if r.status == 200)
        assert elapsed == pytest.approx(step * (steps - 1))
        # The bucket, to one token (float steps of 0.02 s can fall a hair short of a token).
        assert burst + rate * elapsed - 1 <= ok <= burst + rate * elapsed
        assert sim.max_in_window(0.2, statuses=[200]) <= burst + rate * 0.2 + 1
        assert sim.max_in_window(0.2) > sim.max_in_window(0.2, statuses=[200])


async def test_httpdate_rotates_forms(http: aiohttp.ClientSession) -> None:
    forms = [
        r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT",
        r"[A-Z][a-z]+day, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT",
        r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}",
    ]
    clock = FakeClock(auto=False, wall_start=1_700_000_000.4)
    async with Simulator("httpdate", failure_rate=1.0, delay=2.0, clock=clock) as sim:
        for i in range(6):
            before = clock.wall()
            status, headers, body = await post_openai(http, sim.base_url, {"prompt": f"p{i}"})
            assert status == (429 if i % 2 == 0 else 503)
            value = headers["retry-after"]
            assert re.fullmatch(forms[i % 3], value), value
            epoch = email.utils.mktime_tz(email.utils.parsedate_tz(value))  # type: ignore[arg-type]
            assert epoch == math.ceil(before + 2.0)  # the date is ceil(now + delay)
            hint = sim.log[-1].hint
            assert hint == pytest.approx(epoch - before)
            clock.advance(0.3)
        status, headers, body = await post_gemini(http, sim.base_url)
        assert "retry-after" in headers and "details" not in body["error"]


async def test_httpdate_forms_option(http: aiohttp.ClientSession) -> None:
    async with Simulator("httpdate", failure_rate=1.0, forms=["asctime"]) as sim:
        for i in range(3):
            _, headers, _ = await post_gemini(http, sim.base_url, gemini_body(f"p{i}"))
            assert not headers["retry-after"].endswith("GMT")
    with pytest.raises(ValueError, match="forms"):
        Simulator("httpdate", forms=["iso"])


async def test_outage_then_recovery_and_set_profile(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(start=0.0, auto=False)
    async with Simulator("outage", duration=0.3, clock=clock) as sim:
        status, headers, body = await post_gemini(http, sim.base_url)
        assert status == 503 and body["error"]["status"] == "UNAVAILABLE"
        assert "retry-after" not in headers
        status, _, _ = await post_openai(http, sim.base_url)
        assert status == 503
        clock.advance(0.29)
        assert (await post_gemini(http, sim.base_url))[0] == 503
        clock.advance(0.01)
        assert (await post_gemini(http, sim.base_url))[0] == 200
        sim.set_profile("outage", duration=0.2)  # the timer starts at the switch
        assert sim.profile_name == "outage"
        assert (await post_gemini(http, sim.base_url))[0] == 503
        clock.advance(0.2)
        assert (await post_gemini(http, sim.base_url))[0] == 200
        sim.set_profile("clean")
        assert (await post_gemini(http, sim.base_url))[0] == 200


async def test_slow_stalls_after_headers(http: aiohttp.ClientSession) -> None:
    """The headers come at once, the body only after the stall (ordering, not timing)."""
    async with Simulator("slow", fraction=1.0, delay=60.0) as sim:
        url = f"{sim.base_url}/v1beta/models/gemini-2.5-flash-image:generateContent"
        headers = {"x-goog-api-key": "k"}
        # A read timeout far below the stall: the status line arrives, the body never does.
        timeout = aiohttp.ClientTimeout(sock_read=0.2)
        async with http.post(url, json=gemini_body(), headers=headers, timeout=timeout) as resp:
            assert resp.status == 200
            with pytest.raises(asyncio.TimeoutError):
                await resp.read()
        sim.set_profile("slow", fraction=1.0, delay=0.05)
        async with http.post(url, json=gemini_body(), headers=headers) as resp:
            body = await resp.json()  # after the stall the whole body comes
        assert resp.status == 200 and "candidates" in body


def test_slow_fraction_is_seeded() -> None:
    raw = gemini_body("a fox").__repr__().replace("'", '"').encode()
    request = parse_gemini(
        "/v1beta/models/gemini-2.5-flash-image:generateContent",
        "gemini-2.5-flash-image",
        raw,
        "k",
    )
    profile = make_profile("slow", seed=3, fraction=0.5, delay=0.15)
    stalled = [profile.decide(request, 0.0) is not None for _ in range(10)]
    rng = random.Random(3)
    assert stalled == [rng.random() < 0.5 for _ in range(10)]
    assert 0 < sum(stalled) < 10


async def test_safety_blocks_words_and_a_stable_fraction(http: aiohttp.ClientSession) -> None:
    async with Simulator("safety") as sim:
        blocked_kinds: Counter[str] = Counter()
        n_blocked = 0
        for i in range(150):
            prompt = f"an ordinary prompt number {i}"
            first = await post_gemini(http, sim.base_url, gemini_body(prompt))
            again = await post_gemini(http, sim.base_url, gemini_body(prompt))
            assert first[0] == again[0] == 200
            assert first[2].keys() == again[2].keys()
            body = first[2]
            if "promptFeedback" in body:
                assert body["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"
                assert "candidates" not in body
                blocked_kinds["prompt"] += 1
            elif body["candidates"][0]["finishReason"] == "IMAGE_SAFETY":
                assert "content" not in body["candidates"][0]
                blocked_kinds["image"] += 1
            n_blocked += "promptFeedback" in body or "content" not in body["candidates"][0]
        assert 0.18 < n_blocked / 150 < 0.42
        assert blocked_kinds["prompt"] > 5 and blocked_kinds["image"] > 5
        for _ in range(3):
            _, _, body = await post_gemini(http, sim.base_url, gemini_body("a violence-test scene"))
            assert "promptFeedback" in body or "content" not in body["candidates"][0]


async def test_safety_openai_variants(http: aiohttp.ClientSession) -> None:
    async with Simulator("safety", block_words=["forbidden"], fraction=0.0) as sim:
        status, _, body = await post_openai(http, sim.base_url, {"prompt": "a calm lake"})
        assert status == 200
        status, headers, body = await post_openai(
            http, sim.base_url, {"prompt": "something FORBIDDEN", "model": "gpt-image-1"}
        )
        assert status == 400 and body["error"]["code"] == "moderation_blocked"
        details = body["error"]["moderation_details"]
        assert details["moderation_stage"] in ("input", "output") and details["categories"]
        assert headers["x-request-id"] in body["error"]["message"]
        status, _, body = await post_openai(
            http, sim.base_url, {"prompt": "something forbidden", "model": "dall-e-3"}
        )
        assert status == 400 and body["error"]["code"] == "content_policy_violation"
        # the default words are replaced, not extended
        status, _, _ = await post_openai(http, sim.base_url, {"prompt": "violence-test"})
        assert status == 200


def test_unknown_profile_and_option_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown simulator profile"):
        Simulator("chaos")
    with pytest.raises(ValueError, match="bad options"):
        Simulator("flaky", nonsense=1)
    with pytest.raises(ValueError):
        Simulator("flaky", failure_rate=2)
