"""The moderation classifier against a local server speaking the /v1/moderations wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.clock import FakeClock
from genguard.errors import ClassifierUnavailable, ConfigError, ResponseError
from genguard.model import GenerationRequest
from genguard.providers.transport import HttpTransport
from genguard.safety import ClassifierChain, ModerationClassifier, parse_moderation_response
from genguard.sim import Reply, Simulator
from support import free_port

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reference"
KEY = "sk-test-secret-key-1234567890"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


@pytest.fixture
async def server() -> AsyncIterator[Simulator]:
    """The simulator, capturing requests; each test scripts its moderation answer."""
    async with Simulator(capture=True) as sim:
        yield sim


@pytest.fixture
async def transport() -> AsyncIterator[HttpTransport]:
    t = HttpTransport()
    yield t
    await t.aclose()


def classifier(base_url: str, transport: HttpTransport, **kw: Any) -> ModerationClassifier:
    return ModerationClassifier(api_key=KEY, base_url=base_url, transport=transport, **kw)


async def test_sends_the_wire_request_and_allows_a_clean_prompt(
    server: Simulator, transport: HttpTransport
) -> None:
    server.script("moderations", [Reply.fixture(FIXTURES / "openai_200_moderations.json")])
    verdict = await classifier(server.base_url, transport).classify(
        GenerationRequest(prompt="a calm lake")
    )
    assert verdict.allowed and verdict.error is None and verdict.flagged == ()
    assert verdict.categories["violence"] == pytest.approx(0.00093)
    (sent,) = server.captured
    assert sent.path == "/v1/moderations"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.json() == {"model": "omni-moderation-latest", "input": "a calm lake"}


async def test_flagged_response_maps_to_uniform_categories(
    server: Simulator, transport: HttpTransport
) -> None:
    flagged = Reply.fixture(FIXTURES / "openai_200_moderations_flagged.json")
    server.script("moderations", [flagged] * 3)
    mod = classifier(server.base_url, transport)
    verdict = await mod.classify(GenerationRequest(prompt="something violent"))
    assert not verdict.allowed
    assert verdict.flagged == ("violence",)
    assert verdict.categories["violence"] == pytest.approx(0.9734)  # max of violence/*
    result = await ClassifierChain([mod]).evaluate(GenerationRequest(prompt="x"))
    assert result.blocked is not None and result.blocked.category == "violence"
    lenient = ClassifierChain([mod], thresholds={"violence": 0.99})
    assert (await lenient.evaluate(GenerationRequest(prompt="x"))).allowed


async def test_empty_prompt_is_not_sent(server: Simulator, transport: HttpTransport) -> None:
    verdict = await classifier(server.base_url, transport).classify(GenerationRequest(prompt=" "))
    assert verdict.allowed and len(server.captured) == 0 and server.requests == 0


#: Longer than any test: the simulator cancels the handler when it stops.
HANG = 3600.0
UNAUTHORIZED = {
    "error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}
}

OUTAGES: dict[str, tuple[Reply, str]] = {
    "timeout": (Reply.delay(HANG), "timed out"),
    "http_500": (Reply.fixture(FIXTURES / "openai_500_server_error.json"), "HTTP 500"),
    "http_401": (Reply.raw(401, UNAUTHORIZED), "HTTP 401 (invalid_api_key)"),
    "not_json": (Reply.raw(200, "<html>bad gateway</html>"), "not JSON"),
    "wrong_shape": (Reply.raw(200, {"results": [{"flagged": "yes"}]}), "flagged is not a boolean"),
}


@pytest.mark.parametrize("outage", sorted(OUTAGES))
async def test_outage_fail_open_allows_and_reports(
    server: Simulator, transport: HttpTransport, outage: str
) -> None:
    reply, expected = OUTAGES[outage]
    server.script("moderations", [reply])
    mod = classifier(server.base_url, transport, timeout=0.1, fail="fail_open")
    verdict = await mod.classify(GenerationRequest(prompt="anything"))
    assert verdict.allowed
    assert verdict.error is not None and expected in verdict.error
    assert KEY not in verdict.error


@pytest.mark.parametrize("outage", sorted(OUTAGES))
async def test_outage_fail_closed_raises_classifier_unavailable(
    server: Simulator, transport: HttpTransport, outage: str
) -> None:
    reply, expected = OUTAGES[outage]
    server.script("moderations", [reply])
    mod = classifier(server.base_url, transport, timeout=0.1, fail="closed")
    with pytest.raises(ClassifierUnavailable) as info:
        await mod.classify(GenerationRequest(prompt="anything"))
    assert info.value.classifier == "moderation"
    assert expected in str(info.value) and "failing closed" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


@pytest.mark.parametrize(("policy", "fails"), [("open", False), ("closed", True)])
async def test_connection_refused_under_both_policies(
    transport: HttpTransport, policy: str, fails: bool
) -> None:
    mod = classifier(f"http://127.0.0.1:{free_port()}", transport, fail=policy)
    request = GenerationRequest(prompt="anything")
    if fails:
        with pytest.raises(ClassifierUnavailable, match="ProviderUnavailable"):
            await mod.classify(request)
    else:
        verdict = await mod.classify(request)
        assert verdict.allowed and verdict.error is not None
        assert "connection failed" in verdict.error


async def test_timeout_is_bounded_and_cancellation_propagates(
    server: Simulator, transport: HttpTransport
) -> None:
    server.script("moderations", [Reply.delay(HANG)])
    mod = classifier(server.base_url, transport, timeout=30)
    task = asyncio.create_task(mod.classify(GenerationRequest(prompt="anything")))
    await server.captured.wait(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_constructor_validation_and_repr(transport: HttpTransport) -> None:
    with pytest.raises(ConfigError, match="API key"):
        ModerationClassifier(api_key="", transport=transport)
    with pytest.raises(ConfigError, match="transport"):
        ModerationClassifier(api_key=KEY, transport=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="timeout"):
        ModerationClassifier(api_key=KEY, transport=transport, timeout=0)
    with pytest.raises(ConfigError, match="'open' or 'closed'"):
        ModerationClassifier(api_key=KEY, transport=transport, fail="sometimes")
    mod = ModerationClassifier(api_key=KEY, transport=transport, fail="fail_closed")
    assert mod.fail == "closed"
    assert KEY not in repr(mod) and "fail='closed'" in repr(mod)


def test_parser_on_fixtures_and_edge_cases() -> None:
    clean = parse_moderation_response(fixture("openai_200_moderations.json")["body"])
    assert clean.allowed and clean.flagged == ()
    assert set(clean.categories) == {
        "harassment", "hate", "illicit", "self_harm", "sexual", "sexual_minors", "violence"
    }  # fmt: skip
    legacy = {"results": [{"flagged": False, "categories": {"illicit": None},
                           "category_scores": {"illicit": None, "hate": 0}}]}  # fmt: skip
    assert parse_moderation_response(legacy).categories == {"hate": 0.0}
    unknown = {"results": [{"flagged": True, "categories": {"new/thing": True}}]}
    assert parse_moderation_response(unknown).flagged == ("unspecified",)
    bare = {"results": [{"flagged": True}]}
    verdict = parse_moderation_response(json.dumps(bare).encode())
    assert not verdict.allowed and verdict.flagged == ("unspecified",)


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"{}", b'{"results": []}', b'{"results": [1]}', b'{"results": [{}]}',
     b'{"results": [{"flagged": true, "category_scores": {"x": "high"}}]}',
     b'{"results": [{"flagged": true, "category_scores": {"x": NaN}}]}',
     b'{"results": [{"flagged": true, "categories": {"x": 1}}]}',
     b'{"results": [{"flagged": true, "categories": []}]}'],
)  # fmt: skip
def test_parser_rejects_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ResponseError):
        parse_moderation_response(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
category_names = st.sampled_from(["violence", "sexual/minors", "hate", "new", "self-harm"])
result_like = st.fixed_dictionaries(
    {"flagged": st.booleans() | json_values},
    optional={
        "categories": st.dictionaries(category_names, st.booleans() | st.none() | json_values),
        "category_scores": st.dictionaries(
            category_names, st.floats(-1, 2) | st.none() | json_values
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(json_values | st.fixed_dictionaries({"results": st.lists(result_like, max_size=3)}))
def test_parser_returns_a_verdict_or_a_response_error(data: Any) -> None:
    try:
        verdict = parse_moderation_response(data)
    except ResponseError:
        return
    assert all(0.0 <= s <= 1.0 for s in verdict.categories.values())
    assert verdict.allowed == (not any(r["flagged"] for r in data["results"]))


# -- the timeout is measured on the injected clock --------------------------------------------


async def test_timeout_fires_when_the_injected_clock_passes_it(
    server: Simulator, transport: HttpTransport
) -> None:
    server.script("moderations", [Reply.delay(HANG)])
    clock = FakeClock(auto=False)  # only advance() moves time
    mod = classifier(server.base_url, transport, timeout=30, fail="open", clock=clock)
    task = asyncio.create_task(mod.classify(GenerationRequest(prompt="anything")))
    await server.captured.wait(1)
    assert clock.pending == 1  # the timeout's timer is on the fake clock
    assert clock.next_wake == pytest.approx(clock.now() + 30)
    clock.advance(29.9)
    await asyncio.sleep(0.01)
    assert not task.done()
    clock.advance(0.1)
    # a hang guard only: on the system clock the call would sit out 30 real seconds
    verdict = await asyncio.wait_for(task, 10)
    assert verdict.allowed and verdict.error == "timed out after 30s"


async def test_real_time_does_not_count_against_a_fake_clock_timeout(
    server: Simulator, transport: HttpTransport
) -> None:
    server.script("moderations", [Reply.fixture(FIXTURES / "openai_200_moderations.json")])
    clock = FakeClock(auto=False)
    # a nanosecond of fake time that never passes: any real round trip takes longer
    mod = classifier(server.base_url, transport, timeout=1e-9, fail="closed", clock=clock)
    verdict = await mod.classify(GenerationRequest(prompt="a calm lake"))
    assert verdict.allowed and verdict.error is None
    assert clock.pending == 0  # the timer was cancelled with the block
