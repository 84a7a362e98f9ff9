"""Retry-After accounting: an early retry is counted, a compliant one is not."""

from __future__ import annotations

import math

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from genguard.clock import FakeClock
from genguard.sim import Reply, Simulator, format_http_date
from genguard.sim.hints import DATE_FORMS, Hint, RetryAccounting, hint_of

from .conftest import gemini_body, post_gemini, post_openai


async def _early_then_compliant(
    http: aiohttp.ClientSession,
    reply: Reply,
    api: str,
    wait: float | None = None,
    clock: FakeClock | None = None,
) -> None:
    """On a fake clock: an immediate retry is early whatever the machine's speed."""
    clock = clock or FakeClock(auto=False)
    async with Simulator(clock=clock) as sim:
        sim.script(api, [reply, reply])
        post = post_gemini if api == "gemini" else post_openai
        body = gemini_body("same prompt") if api == "gemini" else {"prompt": "same prompt"}
        status, _, _ = await post(http, sim.base_url, body)
        assert status in (429, 503) and sim.log[-1].hint is not None
        hint = sim.log[-1].hint
        # an early retry of the same request is a violation
        status, _, _ = await post(http, sim.base_url, body)
        assert sim.retry_after_violations == 1 and sim.log[-1].retry_after_violation
        # the second scripted 429 re-arms the hint; waiting it out complies
        clock.advance(wait if wait is not None else hint)
        status, _, _ = await post(http, sim.base_url, body)
        assert status == 200
        assert sim.retry_after_violations == 1 and not sim.log[-1].retry_after_violation


async def test_retry_after_seconds(http: aiohttp.ClientSession) -> None:
    await _early_then_compliant(http, Reply.status(429, retry_after=1), "openai")


async def test_retry_after_ms(http: aiohttp.ClientSession) -> None:
    await _early_then_compliant(http, Reply.status(429, retry_after_ms=300), "openai")


async def test_retry_info(http: aiohttp.ClientSession) -> None:
    await _early_then_compliant(http, Reply.status(429, retry_info="0.3s"), "gemini")


async def test_http_dates_in_each_form(http: aiohttp.ClientSession) -> None:
    for form in DATE_FORMS:
        clock = FakeClock(auto=False, wall_start=1_700_000_000.7)
        date_epoch = math.ceil(clock.wall() + 0.3)
        wait = date_epoch - clock.wall()  # exactly up to the date: that is on time
        reply = Reply.status(503, retry_after=format_http_date(date_epoch, form))
        await _early_then_compliant(http, reply, "gemini", wait, clock)


def test_a_date_is_exact_not_tolerant() -> None:
    """One millisecond before the date is early, although a relative hint allows 10 ms."""
    wall = 1_700_000_000.0
    hint = hint_of({"retry-after": format_http_date(wall + 1, "rfc850")}, None, 50.0, wall)
    assert hint is not None and hint.wall == wall + 1
    assert hint.violated_by(51.0, wall + 0.999) and not hint.violated_by(51.0, wall + 1.0)


async def test_other_identities_are_not_violations(http: aiohttp.ClientSession) -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(429, retry_info="5s")])
        await post_gemini(http, sim.base_url, gemini_body("one"))
        await post_gemini(http, sim.base_url, gemini_body("two"))  # other prompt
        await post_gemini(http, sim.base_url, gemini_body("one"), key="other-key")  # other key
        await post_gemini(
            http, sim.base_url, gemini_body("one"), model="gemini-3-pro-image-preview"
        )
        assert sim.retry_after_violations == 0
        assert [r.retry_after_violation for r in sim.log] == [False] * 4
        await post_gemini(http, sim.base_url, gemini_body("one"))
        assert sim.retry_after_violations == 1


async def test_a_hint_is_cleared_by_a_success(http: aiohttp.ClientSession) -> None:
    async with Simulator() as sim:
        sim.script("openai", [Reply.status(429, retry_after_ms=5000), Reply.ok()])
        for _ in range(3):
            await post_openai(http, sim.base_url)
        # second request violates (and succeeds, clearing the hint); third is fine
        assert [r.retry_after_violation for r in sim.log] == [False, True, False]


async def test_fixture_hints_are_accounted(http: aiohttp.ClientSession) -> None:
    from pathlib import Path

    fixture = Path(__file__).parent.parent / "fixtures" / "reference" / "gemini_429_retryinfo.json"
    async with Simulator() as sim:
        sim.script("gemini", [Reply.fixture(fixture)])
        await post_gemini(http, sim.base_url)
        assert sim.log[-1].hint == 32.0
        await post_gemini(http, sim.base_url)
        assert sim.retry_after_violations == 1
        sim.clear_log()
        assert sim.retry_after_violations == 0 and sim.log == []


# -- units --------------------------------------------------------------------------------


def test_hint_prefers_the_most_lenient() -> None:
    hint = hint_of({"Retry-After": "2", "retry-after-ms": "150"}, None, 100.0, 1_000.0)
    assert hint == Hint(0.15, 100.15)
    assert hint_of({}, {"error": {"details": "x"}}, 0.0, 0.0) is None


def test_tolerance_and_exact_dates() -> None:
    relative = Hint(1.0, 101.0)
    assert relative.violated_by(100.98, 0) and not relative.violated_by(100.995, 0)
    dated = Hint(1.0, 101.0, wall=5000.0)
    assert dated.violated_by(999.0, 4999.999) and not dated.violated_by(0.0, 5000.0)


def test_accounting_prunes_expired_entries() -> None:
    acc = RetryAccounting(max_entries=10)
    for i in range(25):
        acc.update(("gemini", "k", str(i)), Hint(0.1, float(i)), now_mono=float(i))
    assert len(acc._not_before) <= 10
    assert acc.check(("gemini", "k", "24"), 23.0, 0.0)


header_values = st.one_of(
    st.text(max_size=30),
    st.integers(-5, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@given(
    st.dictionaries(
        st.sampled_from(["retry-after", "Retry-After", "retry-after-ms", "x"]), header_values
    ),
    st.recursive(
        st.none() | st.text(max_size=10) | st.integers(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["error", "details", "@type", "retryDelay", "x"]), inner, max_size=3
            )
        ),
        max_leaves=10,
    ),
)
def test_hint_of_never_raises(headers: dict[str, str], body: object) -> None:
    hint = hint_of(headers, body, 10.0, 1_700_000_000.0)
    assert hint is None or (hint.seconds >= 0 and math.isfinite(hint.mono))
