"""``${VAR}`` interpolation and secrets."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genguard.config.interpolate import interpolate
from genguard.config.secrets import Secret, resolve_secret
from genguard.errors import ConfigError

ENV = {"A": "x", "EMPTY": "", "KEY": "AIzaSyTOPSECRETVALUE0123456789"}


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("${A}", "x"),
        ("a-${A}-b", "a-x-b"),
        ("${B:-dflt}", "dflt"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY}", ""),
        ("$$", "$"),
        ("cost $5", "cost $5"),
        ("$${A}", "${A}"),
        ("${B:-}", ""),
        ("${B:-a:b}", "a:b"),
        ("no refs", "no refs"),
    ],
)
def test_interpolate(text: str, out: str) -> None:
    assert interpolate(text, ENV, "p") == out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("${B}", "environment variable B is not set"),
        ("${A", "unterminated"),
        ("${1A}", "invalid reference"),
        ("${}", "invalid reference"),
        ("x ${A} ${", "unterminated"),
    ],
)
def test_interpolate_errors(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        interpolate(text, ENV, "profiles.p.deadline")
    assert info.value.path == "profiles.p.deadline"
    assert reason in info.value.reason


@given(st.text(max_size=40))
def test_interpolate_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(ConfigError):
        interpolate(text, ENV, "p")


@given(st.text(alphabet=st.characters(blacklist_characters="${}"), max_size=30))
def test_text_without_references_is_unchanged(text: str) -> None:
    assert interpolate(text, ENV, "p") == text


def test_secret_from_env_is_masked() -> None:
    secret = resolve_secret("${KEY}", ENV, "p.api_key")
    assert secret.get() == ENV["KEY"]
    for shown in (repr(secret), str(secret), secret.describe()):
        assert ENV["KEY"] not in shown
        assert "***" in shown and "KEY" in shown
    assert resolve_secret({"env": "KEY"}, ENV, "p") == secret


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("file-secret-value\n")
    secret = resolve_secret({"file": "key.txt"}, ENV, "p", base=tmp_path)
    assert secret.get() == "file-secret-value"
    assert "file-secret-value" not in repr(secret)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("sk-literal-key-12345", "a literal API key is not allowed"),
        ("${KEY:-fallback}", "exactly ${ENV_VAR}"),
        ("prefix-${KEY}", "exactly ${ENV_VAR}"),
        ({"env": "NOPE"}, "environment variable NOPE is not set"),
        ({"file": "missing.txt"}, "cannot read secret file"),
        ({"vault": "x"}, "{env: NAME} or {file: path}"),
        (42, "must be ${ENV_VAR}"),
    ],
)
def test_secret_errors(raw: object, reason: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_secret(raw, ENV, "profiles.p.provider.api_key", base=tmp_path)
    assert info.value.path == "profiles.p.provider.api_key"
    assert reason in info.value.reason
    assert "literal-key-12345" not in str(info.value)


def test_secret_equality() -> None:
    assert Secret("a", source="env", ref="X") == Secret("a", source="env", ref="X")
    assert Secret("a", source="env", ref="X") != Secret("b", source="env", ref="X")
