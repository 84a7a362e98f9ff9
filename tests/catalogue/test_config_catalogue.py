"""From a policy file: Imagen in the factory, the catalogue policy reaching every provider,
and fallback translating between profiles, all over HTTP to the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalogue_support import TODAY, clock_on

from genguard import GenerationRequest
from genguard.config import client_from_config
from genguard.errors import InvalidRequest, ModelRetired
from genguard.sim import Simulator

POLICY = """\
version: 1
catalogue:
  on_retired: {on_retired}
  models:
    house-image: {{extends: gpt-image-2, capabilities: {{n_max: 2}}}}
profiles:
  legacy:
    provider: {{type: imagen, api_key: "${{KEY}}", base_url: "${{IMAGEN_URL}}"}}
    layers:
      - fallback: {{to: [nano], on: [unavailable, bad_request]}}
  nano:
    provider:
      type: gemini
      model: gemini-3.1-flash-image
      api_key: "${{KEY}}"
      base_url: "${{GEMINI_URL}}"
  house:
    provider: {{type: openai, model: house-image, api_key: "${{KEY}}", base_url: "${{OPENAI_URL}}"}}
  simulated:
    provider: {{type: sim, api: imagen, model: imagen-4.0-fast-generate-001}}
"""


def _write(tmp_path: Path, on_retired: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(on_retired=on_retired))
    return path


async def test_an_imagen_profile_falls_back_to_its_successor_with_the_request_translated(
    tmp_path: Path,
) -> None:
    async with Simulator() as imagen_sim, Simulator() as gemini_sim:
        imagen_sim.set_profile("outage", duration=600)
        env = {"KEY": "k", "IMAGEN_URL": imagen_sim.base_url, "GEMINI_URL": gemini_sim.base_url}
        path = _write(tmp_path, "warn")
        async with client_from_config(path, "legacy", env=env, clock=clock_on(TODAY)) as client:
            result = await client.generate(
                GenerationRequest(prompt="a kingfisher", n=2, aspect_ratio="9:16", seed=5)
            )
        assert [r.path for r in imagen_sim.log] == [
            "/v1beta/models/imagen-4.0-generate-001:predict"
        ]
        config = gemini_sim.log[-1].body["generationConfig"]
    assert (result.provider, result.model) == ("gemini", "gemini-3.1-flash-image")
    assert config["imageConfig"] == {"aspectRatio": "9:16"}
    assert config["candidateCount"] == 2 and config["seed"] == 5
    assert result.changes == ()  # every parameter carried over as it was


async def test_the_policy_file_can_refuse_retired_models(tmp_path: Path) -> None:
    async with Simulator() as imagen_sim:
        env = {"KEY": "k", "IMAGEN_URL": imagen_sim.base_url, "GEMINI_URL": "http://x"}
        path = _write(tmp_path, "fail")
        async with client_from_config(path, "legacy", env=env, clock=clock_on(TODAY)) as client:
            with pytest.raises(ModelRetired) as info:
                await client.generate("a kingfisher")
        assert imagen_sim.log == []
    assert info.value.successor == "gemini-3.1-flash-image"


async def test_entries_added_in_the_policy_file_are_enforced(tmp_path: Path) -> None:
    async with Simulator() as openai_sim:
        env = {"KEY": "k", "OPENAI_URL": openai_sim.base_url}
        path = _write(tmp_path, "warn")
        async with client_from_config(path, "house", env=env, clock=clock_on(TODAY)) as client:
            result = await client.generate(GenerationRequest(prompt="x", n=2, size="1280x720"))
            with pytest.raises(InvalidRequest, match="allowed: 1, 2"):
                await client.generate(GenerationRequest(prompt="x", n=3))
        assert [r.body["model"] for r in openai_sim.log] == ["house-image"]
    assert len(result.images) == 2


async def test_a_simulated_imagen_profile(tmp_path: Path) -> None:
    path = _write(tmp_path, "ignore")
    async with client_from_config(path, "simulated", env={}, clock=clock_on(TODAY)) as client:
        result = await client.generate(GenerationRequest(prompt="a heron", n=3))
        sim = client.simulator
        assert sim is not None
        assert sim.log[-1].path == "/v1beta/models/imagen-4.0-fast-generate-001:predict"
    assert result.provider == "imagen" and len(result.images) == 3
