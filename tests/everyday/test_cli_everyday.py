"""The command line for scripts and CI: --json, exit codes, -v/-q, --version, progress,
--sim, file suffixes, config check --offline, and one clear line for every user error.

Commands run in process through ``main`` with their own stdout/stderr; runs against
the ``realistic`` simulator (8-20 s per image) use a loop whose clock skips idle time.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from virtual_time import VirtualTimeLoop

from genguard import __version__
from genguard.cli import (
    COMMANDS,
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    main,
)

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


class Tty(io.StringIO):
    """Standard error as a terminal, for the progress line."""

    def isatty(self) -> bool:
        return True


class Run:
    def __init__(self, code: int, out: str, err: str, loops: list[VirtualTimeLoop]) -> None:
        self.code, self.out, self.err = code, out, err
        #: Idle seconds the virtual clock skipped: the time the run would have taken.
        self.skipped = sum(loop.jumped for loop in loops)

    def json(self) -> Any:
        (line,) = self.out.strip().splitlines()  # exactly one JSON document
        return json.loads(line)


def cli(*argv: str, stderr: io.StringIO | None = None, virtual: bool = False) -> Run:
    out, err = io.StringIO(), stderr or io.StringIO()
    loops: list[VirtualTimeLoop] = []

    def factory() -> VirtualTimeLoop:
        loops.append(VirtualTimeLoop())
        return loops[-1]

    code = main(list(argv), stdout=out, stderr=err, loop_factory=factory if virtual else None)
    return Run(code, out.getvalue(), err.getvalue(), loops)


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "OPENAI_API_KEY", "GENGUARD_CONFIG", "GENGUARD_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GEMINI_BASE_URL", "OPENAI_BASE_URL", "GEMINI_MODEL", "OPENAI_IMAGE_MODEL"):
        monkeypatch.delenv(name, raising=False)


# -- generate: real-API defaults, against images that take 8-20 s -------------------------


def test_generate_succeeds_with_shipped_defaults_when_images_take_8_to_20_s(
    tmp_path: Path,
) -> None:
    for api in ("gemini", "openai"):
        out = tmp_path / f"{api}.png"
        done = cli(
            "generate", "a red fox", "-o", str(out), "--provider", api,
            "--sim", "--sim-profile", "realistic", "--json", virtual=True,
        )  # fmt: skip
        assert done.code == EXIT_OK, done.err
        report = done.json()
        assert report["ok"] is True
        assert report["attempts"] == 1  # no attempt timed out: a single (billed) request
        assert 8.0 <= done.skipped <= 21  # the image really took 8-20 s
        assert report["simulator"] is True and report["policy"] == f"shipped {api}"
        assert out.read_bytes().startswith(PNG)
        assert "embedded simulator" in done.err


def test_simulator_scale_profile_fails_the_same_backend_and_says_it_is_simulator_scale(
    tmp_path: Path,
) -> None:
    done = cli(
        "generate", "a red fox", "-o", str(tmp_path / "x.png"), "--profile", "sim",
        "--sim", "--sim-profile", "realistic", virtual=True,
    )  # fmt: skip
    assert done.code == EXIT_FAILED
    assert "simulator-scale" in done.err
    assert "AttemptTimeout" in done.err or "DeadlineExceeded" in done.err
    assert not (tmp_path / "x.png").exists()


def test_no_key_and_no_sim_is_an_error_that_says_how_to_proceed(tmp_path: Path) -> None:
    done = cli("generate", "a fox", "-o", str(tmp_path / "fox.png"))
    assert done.code == EXIT_USAGE
    (line,) = done.err.splitlines()
    for hint in ("GEMINI_API_KEY", "--sim", "--config", "OPENAI_API_KEY"):
        assert hint in line
    assert not (tmp_path / "fox.png").exists()
    openai = cli("generate", "a fox", "-o", str(tmp_path / "f.png"), "--provider", "openai")
    assert openai.code == EXIT_USAGE and "no OPENAI_API_KEY set" in openai.err
    as_json = cli("generate", "a fox", "-o", str(tmp_path / "f.png"), "--json").json()
    assert as_json["ok"] is False
    assert as_json["error"]["exit_code"] == EXIT_USAGE
    assert as_json["error"]["missing"] == "GEMINI_API_KEY"


def test_a_key_selects_the_production_profile_of_its_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An OpenAI key only: the shipped openai profile is used (the base URL points nowhere
    # reachable, so the call fails fast as a provider error, exit 1, not a usage error).
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    done = cli("generate", "a fox", "-o", str(tmp_path / "f.png"), "--json", virtual=True)
    assert done.code == EXIT_FAILED
    error = done.json()["error"]
    assert error["type"] in ("ProviderUnavailable", "CircuitOpen", "RetryBudgetExhausted")
    assert error["provider"] == "openai" if "provider" in error else True
    assert "sk-test-not-a-real-key" not in done.out + done.err


def test_unknown_profile_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    shipped = cli("generate", "a fox", "-o", str(tmp_path / "f.png"), "--profile", "gemeni")
    assert shipped.code == EXIT_USAGE
    assert "unknown shipped profile 'gemeni'" in shipped.err and "did you mean 'gemini'" in (
        shipped.err
    )
    in_file = cli(
        "generate", "a fox", "-o", str(tmp_path / "f.png"),
        "--config", str(ROOT / "examples" / "dev.yaml"), "--profile", "prod",
    )  # fmt: skip
    assert in_file.code == EXIT_USAGE
    assert "unknown profile 'prod'" in in_file.err and "default, flaky, openai" in in_file.err
    for done in (shipped, in_file):
        assert "Traceback" not in done.err
        assert len(done.err.splitlines()) == 1


def test_out_suffix_is_checked_against_the_image_format(tmp_path: Path) -> None:
    wrong = cli("generate", "a fox", "-o", str(tmp_path / "fox.jpg"), "--sim", "--json")
    assert wrong.code == EXIT_OUTPUT
    report = wrong.json()
    assert report["ok"] is False and report["error"]["type"] == "ImageFormatError"
    assert report["path"] == str(tmp_path / "fox.png")  # the billed image is kept
    assert not (tmp_path / "fox.jpg").exists()
    assert (tmp_path / "fox.png").read_bytes().startswith(PNG)
    assert "the image is PNG but the name ends in .jpg" in wrong.err

    not_image = cli("generate", "a fox", "-o", str(tmp_path / "fox.txt"), "--sim")
    assert not_image.code == EXIT_USAGE  # refused before any request is sent
    assert ".txt is not an image file suffix" in not_image.err
    assert not (tmp_path / "fox.txt").exists()

    bare = cli("generate", "a fox", "-o", str(tmp_path / "fox"), "--sim", "--json")
    assert bare.code == EXIT_OK
    assert bare.json()["path"] == str(tmp_path / "fox.png")


def test_blocked_prompt_exit_3_in_json(tmp_path: Path) -> None:
    done = cli("generate", "graphic violence, a severed head", "-o", str(tmp_path / "x.png"),
               "--sim", "--json")  # fmt: skip
    assert done.code == EXIT_BLOCKED
    error = done.json()["error"]
    assert error["type"] == "ContentBlocked"
    assert error["stage"] == "input" and error["category"] == "violence"


# -- global flags ----------------------------------------------------------------------------


def test_version_plain_and_json() -> None:
    assert cli("--version").out.strip() == f"genguard {__version__}"
    assert cli("--version", "--json").json() == {"ok": True, "version": __version__}


def test_quiet_silences_notes_and_verbose_shows_log_lines(tmp_path: Path) -> None:
    plain = cli("generate", "a fox", "-o", str(tmp_path / "a.png"), "--sim")
    assert "embedded simulator" in plain.err
    assert "genguard.call" not in plain.err  # the library is silent unless asked
    quiet = cli("generate", "a fox", "-o", str(tmp_path / "b.png"), "--sim", "-q")
    assert quiet.code == EXIT_OK and quiet.err == ""
    verbose = cli("-v", "generate", "a fox", "-o", str(tmp_path / "c.png"), "--sim")
    assert verbose.code == EXIT_OK
    assert "genguard.call" in verbose.err and "outcome" in verbose.err
    verbose_json = cli("generate", "a fox", "-o", str(tmp_path / "d.png"), "--sim", "-v", "--json")
    lines = [json.loads(line) for line in verbose_json.err.splitlines() if line.startswith("{")]
    assert any(line["event"] == "genguard.call" for line in lines)
    assert verbose_json.json()["ok"] is True  # stdout stays one JSON document


def test_progress_line_on_a_terminal_only_after_a_second(tmp_path: Path) -> None:
    tty = Tty()
    done = cli(
        "generate", "a fox", "-o", str(tmp_path / "a.png"), "--sim", "--sim-profile",
        "realistic", stderr=tty, virtual=True,
    )  # fmt: skip
    assert done.code == EXIT_OK
    assert "\r| generating with gemini" in done.err  # drawn in place, then wiped
    fast = cli("generate", "a fox", "-o", str(tmp_path / "b.png"), "--sim", stderr=Tty())
    assert "\r" not in fast.err  # done within a second: nothing drawn
    piped = cli(
        "generate", "a fox", "-o", str(tmp_path / "c.png"), "--sim", "--sim-profile",
        "realistic", virtual=True,
    )  # fmt: skip
    assert "\r" not in piped.err  # not a terminal: no spinner in logs or pipes


def test_usage_errors_exit_2_with_one_line_or_json() -> None:
    bad_flag = cli("generate", "--bogus")
    assert bad_flag.code == EXIT_USAGE and "unrecognized arguments" not in bad_flag.out
    as_json = cli("demo", "--calls", "zero", "--json")
    assert as_json.code == EXIT_USAGE
    assert "invalid int value" in as_json.json()["error"]["message"]
    nothing = cli()
    assert nothing.code == EXIT_USAGE and "usage: genguard" in nothing.err
    unknown_sim = cli("demo", "--profile", "wobbly")
    assert unknown_sim.code == EXIT_USAGE and "unknown simulator profile 'wobbly'" in (
        unknown_sim.err
    )


# -- every command speaks JSON ---------------------------------------------------------------


def test_demo_json_summary() -> None:
    done = cli("demo", "--calls", "6", "--concurrency", "3", "--json")
    assert done.code == EXIT_OK, done.err
    data = done.json()
    assert (
        data["calls"] == 6
        and data["succeeded"] + sum(data["failed"].values()) + sum(data["blocked"].values()) == 6
    )
    assert data["policy"] == "simulator-scale"
    assert data["retry_after_violations"] == 0


def test_demo_says_it_runs_at_simulator_scale() -> None:
    done = cli("demo", "--calls", "3")
    assert "simulator-scale" in done.out.splitlines()[0]


def test_config_show_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaNOTAREALKEY0123456789abcdef")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key-0123456789")
    done = cli("config", "show", str(ROOT / "examples" / "production.yaml"), "--profile",
               "default", "--json")  # fmt: skip
    data = done.json()
    assert data["profile"] == "default" and "provider:" in data["yaml"]
    assert "AIzaNOTAREALKEY" not in done.out


def test_sim_serve_json_announces_its_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "genguard.cli", "sim", "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["ok"] is True and first["url"].startswith("http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- config check --offline ------------------------------------------------------------------


def test_config_check_reports_a_missing_variable_once(tmp_path: Path) -> None:
    done = cli("config", "check", str(ROOT / "examples" / "production.yaml"))
    assert done.code == EXIT_USAGE
    gemini = [line for line in done.err.splitlines() if "GEMINI_API_KEY" in line]
    assert len(gemini) == 1  # default and staging both need it: one line, one fix
    assert "(and 1 more)" in gemini[0]
    data = cli("config", "check", str(ROOT / "examples" / "production.yaml"), "--json").json()
    problems = data["error"]["problems"]
    (problem,) = [p for p in problems if "GEMINI_API_KEY" in p["message"]]
    assert problem["paths"] == [
        "profiles.default.provider.api_key",
        "profiles.staging.provider.api_key",
    ]


def test_config_check_offline_validates_without_secrets(tmp_path: Path) -> None:
    mounted = tmp_path / "mounted.yaml"
    mounted.write_text(
        "version: 1\nprofiles:\n  p:\n    provider: {type: openai, api_key: {file: /no/such}}\n"
    )
    assert cli("config", "check", str(mounted)).code == EXIT_USAGE  # online: the file must exist
    assert cli("config", "check", str(mounted), "--offline").code == EXIT_OK
    for file in ("examples/production.yaml", "src/genguard/profiles/production.yaml"):
        done = cli("config", "check", str(ROOT / file), "--offline", "--json")
        assert done.code == EXIT_OK, done.err
        assert done.json()["offline"] is True
    # Offline still checks everything else, and the form of each secret reference.
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nprofiles:\n  p:\n    provider: {type: gemini, api_key: AIzaLiteralKey}\n"
        '    layers:\n      - retry: {attempts: 0}\n      - timeout: {attempt: "${ATTEMPT}"}\n'
    )
    done = cli("config", "check", str(bad), "--offline")
    assert done.code == EXIT_USAGE
    assert "a literal API key is not allowed" in done.err
    assert "retry.attempts" in done.err
    assert "environment variable ATTEMPT is not set" in done.err
    assert "AIzaLiteralKey" not in done.err


def test_subcommands_are_registered_from_their_modules() -> None:
    assert [name for name, _ in COMMANDS][:4] == ["generate", "demo", "sim", "config"]
    assert all(":" in target for _, target in COMMANDS)


def test_user_errors_in_a_real_process_have_no_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for argv in (
        ["generate", "a fox", "-o", str(tmp_path / "f.png")],
        ["generate", "a fox", "-o", str(tmp_path / "f.png"), "--profile", "nope"],
        ["config", "check", str(tmp_path / "missing.yaml")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "genguard.cli", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == EXIT_USAGE, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("genguard: ")


def test_a_command_from_its_own_module_gets_the_global_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "genguard.cli.COMMANDS", [*COMMANDS, ("hello", "cli_hook_command:register")]
    )
    plain = cli("hello", "ada")
    assert plain.code == EXIT_OK and plain.out == "hello ada\n" and "greeting" in plain.err
    assert cli("--json", "hello", "ada").json() == {"ok": True, "greeting": "hello ada"}
    assert cli("hello", "ada", "-q").err == ""
    usage = cli("hello", "nobody", "--json")
    assert usage.code == EXIT_USAGE and usage.json()["error"]["message"] == "nobody to greet"
    busy = cli("hello", "busy", "--json")
    assert busy.code == EXIT_FAILED
    assert busy.json()["error"] == {
        "type": "RateLimited",
        "message": "RateLimited: try later",
        "exit_code": EXIT_FAILED,
        "status": 429,
        "retry_after": 2.5,
    }
    assert cli("--help").code == EXIT_OK
    assert "say hello" in build_help()


def build_help() -> str:
    from genguard.cli import build_parser

    return build_parser().format_help()
