"""Record real responses (keys scrubbed) and serve them again from the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genguard import Client, ConfigError, RateLimited
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator
from genguard.testing import RecordingTransport, load_cassette

KEY = "sk-live-cassette-secret-0123456789"


async def _record(tmp_path: Path, keep_prompts: bool = False) -> Path:
    async with Simulator("clean") as sim:
        sim.script(
            "openai",
            [
                Reply.status(429, retry_after_ms=120, message=f"slow down, key {KEY}"),
                Reply.ok(),
            ],
        )
        transport = RecordingTransport(keep_prompts=keep_prompts)
        provider = OpenAIProvider(KEY, base_url=sim.base_url)
        layers = [RetryLayer(attempts=3, initial=0.01, max_delay=0.5)]
        async with Client(provider, layers, deadline=10, transport=transport) as client:
            await client.generate("a secret prompt about foxes")
        await transport.aclose()
        return transport.cassette.save(tmp_path / "cassette.json")


async def test_recording_scrubs_keys_and_prompts(tmp_path: Path) -> None:
    path = await _record(tmp_path)
    text = path.read_text()
    assert KEY not in text
    assert "[redacted]" in text
    data = json.loads(text)
    statuses = [i["response"]["status"] for i in data["interactions"]]
    assert statuses == [429, 200]
    assert data["interactions"][0]["response"]["headers"]["retry-after-ms"] == "120"
    assert "revised_prompt" not in text or '"revised_prompt": "[redacted]"' in text


async def test_replay_reproduces_the_recorded_answers(tmp_path: Path) -> None:
    path = await _record(tmp_path)
    cassette = load_cassette(path)
    async with Simulator("clean") as sim:
        assert cassette.replay_into(sim) == 2
        provider = OpenAIProvider("another-key", base_url=sim.base_url)
        # No retry: the first recorded answer (a 429 with its hint) comes back as it was.
        async with Client(provider, [], deadline=10) as client:
            with pytest.raises(RateLimited) as caught:
                await client.generate("anything")
            assert caught.value.retry_after == pytest.approx(0.12)
            result = await client.generate("anything")
        assert result.images and result.images[0].data.startswith(b"\x89PNG")
        assert sim.pending_scripts() == 0


async def test_gemini_responses_record_under_their_api(tmp_path: Path) -> None:
    async with Simulator("clean") as sim:
        transport = RecordingTransport()
        provider = GeminiProvider(KEY, base_url=sim.base_url)
        async with Client(provider, [], deadline=10, transport=transport) as client:
            await client.generate("a lighthouse")
        await transport.aclose()
    (item,) = transport.cassette.interactions
    assert item["api"] == "gemini"
    assert KEY not in json.dumps(item)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"version": 9, "interactions": []}', "version-1"),
        ('{"version": 1, "interactions": {}}', "must be a list"),
        ('{"version": 1, "interactions": [{"api": "dalle"}]}', "needs 'api'"),
        ('{"version": 1, "interactions": [{"api": "openai", "response": {}}]}', "integer 'status'"),
    ],
)
def test_malformed_cassettes_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_cassette(path)


def test_a_directory_is_not_a_cassette(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regular file"):
        load_cassette(tmp_path)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    ["version", "interactions", "api", "response", "status", "headers"]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=20,
    )
)
def test_any_json_document_loads_or_is_a_config_error(tmp_path: Path, document: object) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(document))
    try:
        cassette = load_cassette(path)
    except ConfigError:
        return
    for item in cassette.interactions:
        assert isinstance(item["response"]["status"], int)
