"""Item 8: hostile policy files end in a ConfigError with a path, quickly: never a hang,
a RecursionError or a MemoryError, in ``config check`` and ``config show`` alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genguard.config import api as config_api
from genguard.errors import ConfigError

PROVIDER = "{type: gemini, api_key: '${K}'}"
ENV = {"K": "a-key-for-config-tests"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genguard.yaml"
    path.write_text(text)
    return path


def _billion_laughs(levels: int = 9) -> str:
    lines = ["version: 1", "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"lol{level}: &l{level} [{refs}]")
    lines.append("profiles:")
    lines.append("  p:")
    lines.append(
        f"    provider: {{type: gemini, api_key: '${{K}}', options: {{x: *l{levels - 1}}}}}"
    )
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion_laughs": (_billion_laughs(), "aliases are expanded"),
    "alias_cycle": ("version: 1\nprofiles: &p\n  p: {provider: *p}\n", "cycle"),
    "deep_nesting": ("version: 1\nprofiles: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper"),
    "deep_flow_mapping": (
        "version: 1\nprofiles: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "nested deeper",
    ),
    "long_extends_chain": (
        "version: 1\nprofiles:\n  p0: {provider: " + PROVIDER + "}\n"
        + "".join(f"  p{i}: {{extends: p{i - 1}}}\n" for i in range(1, 200)),
        "chain longer",
    ),
    "three_thousand_profiles": (
        "version: 1\nprofiles:\n  p0: {provider: " + PROVIDER + "}\n"
        + "".join(f"  p{i}: {{extends: p{i - 1}}}\n" for i in range(1, 3000)),
        "at most 256 profiles",
    ),
    "huge_file": ("version: 1\n# " + "x" * (2 * 1024 * 1024) + "\n", "larger than"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_config_is_a_typed_error_for_check_and_show(tmp_path: Path, case: str) -> None:
    text, message = HOSTILE[case]
    path = _write(tmp_path, text)
    problems = config_api.check(path, env=ENV)
    assert problems and all(isinstance(p, ConfigError) for p in problems)
    assert any(message in str(p) for p in problems), problems
    with pytest.raises(ConfigError, match=message):
        config_api.show(path, "p0" if "p0" in text else "p", env=ENV)


def test_a_wide_extends_lattice_resolves_in_linear_time(tmp_path: Path) -> None:
    # Each profile extends the two before it: 2**30 paths through the graph.
    lines = ["version: 1", "profiles:", f"  p0: {{provider: {PROVIDER}}}", "  p1: {extends: p0}"]
    lines += [f"  p{i}: {{extends: [p{i - 1}, p{i - 2}]}}" for i in range(2, 30)]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    assert config_api.check(path, env=ENV) == []
    assert "profile p29" in config_api.show(path, "p29", env=ENV)


def _fallback_lattice(size: int) -> str:
    # Each profile falls back to the next two: 2**size routes through the graph.
    lines = ["version: 1", "profiles:"]
    for i in range(size):
        targets = [f"p{j}" for j in (i + 1, i + 2) if j < size]
        layers = f"[{{fallback: {{to: [{', '.join(targets)}]}}}}]" if targets else "[]"
        lines.append(f"  p{i}: {{provider: {PROVIDER}, layers: {layers}}}")
    return "\n".join(lines) + "\n"


def test_a_wide_fallback_lattice_is_checked_in_linear_time(tmp_path: Path) -> None:
    assert config_api.check(_write(tmp_path, _fallback_lattice(30)), env=ENV) == []
    problems = config_api.check(_write(tmp_path, _fallback_lattice(40)), env=ENV)
    assert problems and all("fallback chain longer than 32" in str(p) for p in problems)


def test_building_a_wide_fallback_lattice_is_refused_not_expanded(tmp_path: Path) -> None:
    from genguard.config import client_from_config

    path = _write(tmp_path, _fallback_lattice(30))
    with pytest.raises(ConfigError, match="more than 64 stacks"):
        client_from_config(str(path), profile="p0", env=ENV)


@pytest.mark.parametrize("kind", ["dev_zero", "fifo"])
def test_a_secret_file_that_never_ends_is_a_config_error_with_its_path(
    tmp_path: Path, kind: str
) -> None:
    if kind == "fifo":
        os.mkfifo(tmp_path / "key")
        target = "key"
    else:
        target = "/dev/zero"
    path = _write(
        tmp_path,
        "version: 1\nprofiles:\n  p:\n"
        f"    provider: {{type: gemini, api_key: {{file: {target}}}}}\n",
    )
    problems = config_api.check(path, env={})
    assert {p.path for p in problems} == {"profiles.p.provider.api_key"}
    assert "cannot read secret file" in str(problems[0])


def test_config_check_on_the_command_line_survives_a_billion_laughs(tmp_path: Path) -> None:
    path = _write(tmp_path, _billion_laughs())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "genguard"), "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV},
    )
    assert done.returncode != 0
    assert "aliases are expanded" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_rules_file_is_read_with_the_same_limits(tmp_path: Path) -> None:
    from genguard.safety.rules import RulesClassifier

    path = tmp_path / "rules.yaml"
    path.write_text(_billion_laughs().replace("profiles:", "categories:"))
    with pytest.raises(ConfigError, match="aliases are expanded"):
        RulesClassifier(file=path)
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(ConfigError, match="not a regular file"):
        RulesClassifier(file=tmp_path / "fifo.yaml")
