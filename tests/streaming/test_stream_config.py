"""A policy file's ``stream`` section sets what ``client.stream`` uses by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from genguard.config import client_from_config
from genguard.errors import ConfigError
from genguard.streaming import PartialImage, StreamOptions

POLICY = """
version: 1
profiles:
  default:
    provider: {type: sim, api: openai}
    stream: {idle: 30s, first_event: 2m, total: null, partial_images: 1}
  bare:
    provider: {type: sim, api: openai}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_stream_section_sets_the_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, POLICY)
    client = client_from_config(str(path), profile="default")
    assert client.stream_options == StreamOptions(
        idle=30.0, first_event=120.0, total=None, partial_images=1
    )
    async with client:
        stream = client.stream("a lighthouse")
        result = await stream.final()
        assert result.image.data.startswith(b"\x89PNG")
        assert [p.index for p in stream.partials] == [0]  # one partial, as the file asked
        assert client.simulator.log[-1].body["partial_images"] == 1
        # a call's own options still win
        events = [e async for e in client.stream("x", settings=StreamOptions(partial_images=3))]
        assert sum(isinstance(e, PartialImage) for e in events) == 3


def test_without_a_stream_section_the_defaults_are_the_libraries(tmp_path: Path) -> None:
    client = client_from_config(str(_write(tmp_path, POLICY)), profile="bare")
    assert client.stream_options == StreamOptions()


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ("{partial_images: 5}", "stream.partial_images"),
        ("{idle: -1s}", "stream.idle"),
        ("{idel: 30s}", "stream.idel"),
    ],
)
def test_bad_stream_settings_name_their_path(tmp_path: Path, section: str, where: str) -> None:
    text = (
        "version: 1\nprofiles:\n  default:\n    provider: {type: sim, api: openai}\n"
        f"    stream: {section}\n"
    )
    with pytest.raises(ConfigError) as caught:
        client_from_config(str(_write(tmp_path, text)), profile="default")
    assert f"profiles.default.{where}" in str(caught.value)


def test_the_python_builder_takes_the_same_section() -> None:
    from genguard.builder import PipelineBuilder

    profile = (
        PipelineBuilder().provider("sim", api="gemini").stream(idle="45s", partial_images=0)
    ).build_config()
    assert (profile.stream.idle, profile.stream.partial_images) == (45.0, 0)
    assert profile.stream.connect == StreamOptions().connect
