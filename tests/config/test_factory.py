"""Config -> pipeline: every example runs on the simulator; fallback, plugins, env vars."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest

from genguard import factory as factory_module
from genguard.clock import FakeClock
from genguard.config import (
    Pipeline,
    StackOrderWarning,
    check,
    client_from_config,
    load_config,
    plugins,
)
from genguard.errors import ConfigError
from genguard.model import Call, GenerationRequest, GenerationResult
from genguard.observe import RecordingObserver
from genguard.pipeline import Handler
from genguard.sim import Simulator
from support import drive

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_FILES = sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.toml")])


def sim_env(gemini_url: str, openai_url: str) -> dict[str, str]:
    return {
        "GEMINI_API_KEY": "gemini-test-key",
        "OPENAI_API_KEY": "openai-test-key",
        "GEMINI_BASE_URL": gemini_url,
        "OPENAI_BASE_URL": openai_url,
    }


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLE_FILES} >= {"dev.yaml", "production.yaml", "tenants.toml"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
async def test_every_example_profile_runs_a_call(path: Path, sim: Any) -> None:
    env = sim_env(sim.base_url, sim.base_url)
    assert check(path, env=env) == []
    for name in load_config(path).profiles:
        async with client_from_config(path, name, env=env) as client:
            result = await client.generate(
                GenerationRequest(prompt="a red fox", metadata={"tenant": "acme"})
            )
            assert result.images and result.images[0].data.startswith(b"\x89PNG")
            assert client.profile.name == name


async def test_fallback_serves_from_openai_when_gemini_is_down() -> None:
    """Backoff and deadlines on fake time, HTTP real: time moves only while the call
    sleeps in a backoff, never during a round trip, whatever the machine's speed."""
    recorder = RecordingObserver()
    clock = FakeClock(auto=False)
    async with Simulator(profile="outage") as down, Simulator(profile="clean") as up:
        env = sim_env(down.base_url, up.base_url)
        client = client_from_config(
            EXAMPLES / "production.yaml", "default", env=env, observer=recorder, clock=clock
        )
        async with client:
            (result,) = await drive(clock, [client.generate("a lighthouse")])
        assert isinstance(result, GenerationResult), result
        assert result.provider == "openai"
        assert [e["to_key"] for e in recorder.of("fallback_used")] == ["openai/gpt-image-2"]
        assert {r.api for r in down.log} == {"gemini"} and len(down.log) >= 2  # retried first
        assert [r.api for r in up.log] == ["openai"]


async def test_sim_provider_is_owned_by_the_client(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("version: 1\nprofiles:\n  default:\n    provider: {type: sim, api: openai}\n")
    client = client_from_config(file, env={})
    assert client.simulator is None  # started on enter, not at build
    async with client:
        sim = client.simulator
        assert sim is not None
        result = await client.generate("x")
        assert result.provider == "openai" and len(sim.log) == 1
    assert client.simulator is None


async def test_env_vars_choose_file_and_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(
        "version: 1\nprofiles:\n  default: {provider: {type: sim}}\n"
        "  other: {provider: {type: sim, api: openai}}\n"
    )
    monkeypatch.setenv("GENGUARD_CONFIG", str(file))
    monkeypatch.setenv("GENGUARD_PROFILE", "other")
    async with client_from_config() as client:
        assert client.profile.name == "other"
        assert (await client.generate("x")).provider == "openai"
    monkeypatch.delenv("GENGUARD_PROFILE")
    assert client_from_config().profile.name == "default"
    monkeypatch.delenv("GENGUARD_CONFIG")
    with pytest.raises(ConfigError, match="GENGUARD_CONFIG is not set"):
        client_from_config()


async def test_builder_builds_the_same_client_kind() -> None:
    builder = Pipeline.builder().provider("sim").deadline("10s").telemetry().retry(attempts=2)
    async with builder.timeout("5s").build() as client:
        assert (await client.generate("x")).images
        assert [type(layer).__name__ for layer in client.layers] == [
            "TelemetryLayer",
            "RetryLayer",
            "TimeoutLayer",
        ]


def test_missing_layer_module_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(factory_module.LAYER_MODULES, "timeout", "genguard.layers.not_here")
    file = tmp_path / "c.yaml"
    file.write_text(
        "version: 1\nprofiles:\n  p: {provider: {type: sim}, layers: [{timeout: {attempt: 1s}}]}\n"
    )
    problems = check(file, env={})
    assert [(p.path, p.reason) for p in problems] == [
        (
            "profiles.p.layers[0].timeout",
            "layer timeout is not available (module genguard.layers.not_here is missing)",
        )
    ]
    with pytest.raises(ConfigError, match="layer timeout is not available"):
        client_from_config(file, "p", env={})


def test_order_warning_on_build() -> None:
    with pytest.warns(StackOrderWarning, match="rate_limit_outside_retry"):
        Pipeline.builder().provider("sim").deadline("5s").rate_limit(concurrency=1).retry().build()


def test_provider_options_are_checked_at_build(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(
        "version: 1\nprofiles:\n"
        "  p: {provider: {type: gemini, api_key: '${K}', options: {colour: red}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        client_from_config(file, "p", env={"K": "secret-value-123"})
    assert info.value.path == "profiles.p.provider.options"
    assert "colour" in info.value.reason and "secret-value-123" not in str(info.value)


class AuditLayer:
    """A plugin layer: tags results it has seen."""

    scope = "call"
    seen: ClassVar[list[str]] = []

    def __init__(self, *, label: str) -> None:
        self.label = label

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        AuditLayer.seen.append(self.label)
        return await next(call)


async def test_custom_layer_from_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("gg_test_plugin")
    module.AuditLayer = AuditLayer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gg_test_plugin", module)
    entry = EntryPoint("audit", "gg_test_plugin:AuditLayer", plugins.GROUP)
    monkeypatch.setattr(plugins, "_entry_points", lambda: {"audit": entry})
    file = tmp_path / "c.yaml"
    file.write_text(
        "version: 1\nprofiles:\n  p: {provider: {type: sim}, layers: [{audit: {label: hello}}]}\n"
        "  typo: {provider: {type: sim}, layers: [audti]}\n"
        "  bad: {provider: {type: sim}, layers: [{audit: {colour: red}}]}\n"
    )
    problems = check(file, env={})
    assert next((p.path, p.reason) for p in problems) == (
        "profiles.typo.layers[0]",
        "unknown layer 'audti' (did you mean 'audit'?); known: telemetry, safety, prompt_policy, "
        "fallback, retry, circuit_breaker, rate_limit, timeout, budget, audit (more come from "
        "packages "
        "with a 'genguard.layers' entry point)",
    )
    with pytest.raises(ConfigError, match=r"profiles.bad.layers\[0\].audit: .*colour"):
        client_from_config(file, "bad", env={})
    AuditLayer.seen.clear()
    async with client_from_config(file, "p", env={}) as client:
        await client.generate("x")
    assert AuditLayer.seen == ["hello"]
