"""The genguard command: real processes, real simulator, exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from genguard.cli import main
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("GENGUARD_CONFIG", None)
    return env


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genguard.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        cwd=ROOT,
    )


def test_generate_with_sim_uses_the_simulator_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "fox.png"
    done = _run("generate", "a red fox", "--out", str(out), "--seed", "0", "--sim")
    assert done.returncode == 0, done.stderr
    assert "simulator" in done.stderr
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert "wrote" in done.stdout


def test_generate_with_openai_flag_and_a_config_file(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    done = _run("generate", "a boat", "--out", str(out), "--provider", "openai", "--sim")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert "openai/" in done.stdout
    via_config = _run(
        "generate",
        "a boat",
        "--out",
        str(out),
        "--config",
        "examples/dev.yaml",
        "--profile",
        "default",
    )
    assert via_config.returncode == 0, via_config.stderr


def test_blocked_prompt_is_one_clear_line_and_exit_3(tmp_path: Path) -> None:
    done = _run(
        "generate", "graphic violence, a severed head", "--out", str(tmp_path / "x.png"), "--sim"
    )
    assert done.returncode == 3
    lines = [line for line in done.stderr.splitlines() if line.startswith("genguard:")]
    assert any("ContentBlocked" in line for line in lines)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_demo_runs_and_prints_a_summary() -> None:
    done = _run("demo", "--calls", "12", "--concurrency", "4", timeout=120)
    assert done.returncode == 0, done.stderr
    for row in ("succeeded", "retries", "upstream requests", "Retry-After violations", "p50"):
        assert row in done.stdout
    assert "Retry-After violations       0" in done.stdout


def test_config_check_lists_every_error_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nprofiles:\n  default:\n    provider: {type: sim}\n"
        "    layers:\n      - retry: {attempts: 0}\n      - rate_limit: {requests: 5/fortnight}\n"
    )
    done = _run("config", "check", str(bad))
    assert done.returncode == 2
    assert "retry.attempts" in done.stderr and "rate_limit.requests" in done.stderr
    good = _run("config", "check", "examples/dev.yaml")
    assert good.returncode == 0, good.stderr


def test_config_show_masks_secrets() -> None:
    env_key = "sk-test-should-never-appear-1234567890"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "genguard.cli",
            "config",
            "show",
            "examples/production.yaml",
            "--profile",
            "staging",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={
            **_env(),
            "GEMINI_API_KEY": env_key,
            "OPENAI_API_KEY": env_key,
            "REDIS_URL": "redis://:hunter2secret@localhost:6379/0",
        },
    )
    assert done.returncode == 0, done.stderr
    assert env_key not in done.stdout and "hunter2secret" not in done.stdout
    assert "*** (env GEMINI_API_KEY)" in done.stdout and "redis://:***@localhost" in done.stdout


def test_bad_usage_gives_exit_2_and_help() -> None:
    assert _run().returncode == 2
    assert _run("demo", "--calls", "0").returncode == 2
    missing = _run("config", "check", "no/such/file.yaml")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_sim_serve_answers_until_stopped() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "genguard.cli", "sim", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 20
        body = b""
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/v1/images/generations",
                    data=b'{"prompt": "a fox", "model": "gpt-image-1"}',
                    headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    body = response.read()
                break
            except OSError:
                time.sleep(0.1)
        assert b"b64_json" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_main_returns_codes_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(ROOT / "examples" / "dev.yaml")]) == 0
    assert "ok" in capsys.readouterr().out
