"""The whole-stack fault profiles: per-day quota, soak phases, 429-only HTTP-dates."""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest

from genguard import Client
from genguard.clock import FakeClock
from genguard.errors import QuotaExhausted
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator
from genguard.sim.profiles import FAULTS, Soak, make_profile
from genguard.sim.requests import SimRequest

from .conftest import gemini_body, post_gemini, post_openai


def request(api: str = "gemini") -> SimRequest:
    return SimRequest(api=api, path="/", model="m", prompt="p", key="k", body={}, digest="d")  # type: ignore[arg-type]


async def test_a_spent_daily_quota_reads_as_quota_exhausted_on_both_apis() -> None:
    async with Simulator("quota", images=2) as sim:
        async with aiohttp.ClientSession() as http:
            gemini = [(await post_gemini(http, sim.base_url, gemini_body()))[0] for _ in range(3)]
            openai = [(await post_openai(http, sim.base_url))[0] for _ in range(3)]
        assert gemini == [200, 200, 429] and openai == [200, 200, 429]  # a quota per API
        providers = (
            GeminiProvider("test-key", base_url=sim.base_url),
            OpenAIProvider("test-key", base_url=sim.base_url),
        )
        errors = []
        for provider in providers:
            async with Client(provider) as client:
                with pytest.raises(QuotaExhausted) as info:
                    await client.generate("a lighthouse")
            errors.append(info.value)
    assert errors[0].code == "RESOURCE_EXHAUSTED"
    assert any("PerDay" in q for q in errors[0].quota_ids)
    assert errors[1].code == "insufficient_quota"


def test_http_date_can_refuse_with_429_only() -> None:
    profile = make_profile("httpdate", failure_rate=1.0, codes="429", wall=lambda: 1e9)
    replies = [profile.decide(request(), 0.0) for _ in range(6)]
    assert {r.code for r in replies if r is not None} == {429}
    with pytest.raises(ValueError):
        make_profile("httpdate", codes="500")


def test_soak_switches_phases_on_time_and_loops() -> None:
    soak = Soak([("clean", 2.0, {}), ("outage", 1.0, {"duration": 60.0})])
    soak.start(100.0)
    assert [soak.phase_at(100.0 + t) for t in (0.0, 1.9, 2.0, 2.9, 3.0, 5.5)] == [
        0,
        0,
        1,
        1,
        0,
        1,
    ]
    assert soak.decide(request(), 100.5) is None
    refused = soak.decide(request(), 102.5)
    assert refused is not None and refused.code == 503
    assert soak.decide(request(), 103.5) is None  # clean again
    with pytest.raises(ValueError):
        Soak([("soak", 1.0, {})])


async def test_the_default_soak_runs_every_phase_on_a_fake_clock() -> None:
    clock = FakeClock(auto=False, start=0.0)
    async with Simulator("soak", clock=clock) as sim, aiohttp.ClientSession() as http:
        statuses: Counter[int] = Counter()
        for _ in range(int(Soak().cycle)):
            statuses[(await post_gemini(http, sim.base_url, gemini_body()))[0]] += 1
            clock.advance(1.0)
    assert {200, 503} <= set(statuses)


def test_every_fault_preset_builds() -> None:
    for name, (profile, options) in FAULTS.items():
        assert make_profile(profile, **options).name == profile, name
