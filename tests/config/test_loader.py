"""Loading, extends, layer patches, TOML/YAML parity, show and check."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genguard.config import (
    ConfigWarning,
    check,
    has_errors,
    load_config,
    parse_config,
    resolve_profile,
    show,
)
from genguard.config.schema import (
    RetryLayerConfig,
    SimProviderConfig,
    TelemetryLayerConfig,
    TimeoutLayerConfig,
)
from genguard.errors import ConfigError, ConfigErrors

ENV = {"GEMINI_API_KEY": "AIzaSyTESTKEYTESTKEYTESTKEY0000", "REDIS_URL": "redis://u:pw123@h:6379/0"}
BASE = """
version: 1
profiles:
  base:
    provider: {type: sim, profile: clean}
    deadline: 30s
    layers:
      - telemetry
      - retry: {attempts: 4, backoff: {initial: 50ms}}
      - timeout: {attempt: 5s}
  mid:
    extends: base
    provider: {profile: flaky}
    layers: {retry: {backoff: {max: 2s}}, timeout: false}
  top:
    extends: mid
    deadline: 10s
    layers: {retry: {attempts: 2}}
  swap:
    extends: base
    provider: {type: gemini, api_key: "${GEMINI_API_KEY}"}
"""


def test_multi_level_extends_and_patches() -> None:
    config = parse_config(BASE, env=ENV)
    assert config.lineage("top") == ["top", "mid", "base"]
    top = resolve_profile(config, "top")
    assert top.deadline == 10.0
    assert isinstance(top.provider, SimProviderConfig) and top.provider.profile == "flaky"
    assert [type(x) for x in top.layers] == [TelemetryLayerConfig, RetryLayerConfig]
    retry = top.layers[1]
    assert isinstance(retry, RetryLayerConfig)
    assert (retry.attempts, retry.backoff.initial, retry.backoff.max) == (2, 0.05, 2.0)
    base = resolve_profile(config, "base")
    assert isinstance(base.layers[2], TimeoutLayerConfig)


def test_provider_type_change_replaces_not_merges() -> None:
    swap = resolve_profile(parse_config(BASE, env=ENV), "swap")
    assert swap.provider.type == "gemini"
    assert "profile" not in type(swap.provider).model_fields


def test_toml_and_yaml_give_equal_profiles() -> None:
    toml = """
version = 1
[profiles.base]
deadline = "30s"
layers = [
  "telemetry",
  {retry = {attempts = 4, backoff = {initial = "50ms"}}},
  {timeout = {attempt = "5s"}},
]
[profiles.base.provider]
type = "sim"
profile = "clean"
"""
    assert resolve_profile(parse_config(toml, "toml"), "base") == resolve_profile(
        parse_config(BASE, env=ENV), "base"
    )


def test_interpolated_numbers_are_coerced() -> None:
    text = BASE.replace("attempts: 4", 'attempts: "${ATTEMPTS:-7}"')
    retry = resolve_profile(parse_config(text, env={}), "base").layers[1]
    assert isinstance(retry, RetryLayerConfig) and retry.attempts == 7
    retry = resolve_profile(parse_config(text, env={"ATTEMPTS": "3"}), "base").layers[1]
    assert isinstance(retry, RetryLayerConfig) and retry.attempts == 3


def test_variables_resolve_per_profile() -> None:
    text = BASE + "  needs_var:\n    extends: base\n    deadline: ${NOT_SET_ANYWHERE}\n"
    config = parse_config(text, env={})
    resolve_profile(config, "base")  # fine: only needs_var uses the variable
    with pytest.raises(ConfigError) as info:
        resolve_profile(config, "needs_var")
    assert info.value.path == "profiles.needs_var.deadline"


def test_unknown_profile_suggests() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'tpo' \(did you mean 'top'\?\)"):
        resolve_profile(parse_config(BASE, env=ENV), "tpo")


def test_errors_are_collected() -> None:
    text = BASE.replace("attempts: 4", "attempts: 0").replace("attempt: 5s", "attempt: never")
    with pytest.raises(ConfigErrors) as info:
        resolve_profile(parse_config(text, env=ENV), "base")
    assert [e.path for e in info.value.errors] == [
        "profiles.base.layers[1].retry.attempts",
        "profiles.base.layers[2].timeout.attempt",
    ]


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config(tmp_path / "x.ini")
    (tmp_path / "bad.toml").write_text("version = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(tmp_path / "bad.toml")


def test_show_masks_secrets_and_round_trips(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(BASE + "    state: {backend: redis, url: '${REDIS_URL}'}\n")
    text = show(file, "swap", env=ENV)
    assert ENV["GEMINI_API_KEY"] not in text and "pw123" not in text
    assert "*** (env GEMINI_API_KEY)" in text and "redis://u:***@h:6379/0" in text
    assert text.startswith("# profile swap (extends base)")
    data = yaml.safe_load(text)
    body = data["profiles"]["swap"]
    assert body["deadline"] == "30s"
    assert body["layers"][1]["retry"]["backoff"]["initial"] == "50ms"
    # Everything but the masked secret reads back to the same profile.
    body["provider"]["api_key"] = "${GEMINI_API_KEY}"
    body["state"]["url"] = "${REDIS_URL}"
    again = parse_config(yaml.safe_dump(data), env=ENV)
    assert resolve_profile(again, "swap") == resolve_profile(
        parse_config(file.read_text(), env=ENV), "swap"
    )


def test_check_reports_warnings_separately(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(BASE.replace("deadline: 30s", "description: no deadline"))
    problems = check(file, "base", env=ENV)
    assert problems and all(isinstance(p, ConfigWarning) for p in problems)
    assert not has_errors(problems)
    assert [p.code for p in problems if isinstance(p, ConfigWarning)] == ["retry_without_deadline"]


def test_relative_secret_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key").write_text("from-a-file\n")
    file = tmp_path / "c.yaml"
    file.write_text(
        "version: 1\nprofiles:\n  p:\n    provider: {type: openai, api_key: {file: secrets/key}}\n"
    )
    profile = resolve_profile(load_config(file, env={}), "p")
    assert profile.provider.api_key.get() == "from-a-file"  # type: ignore[union-attr]
    assert "from-a-file" not in repr(profile) and "from-a-file" not in show(file, "p", env={})
