"""``genguard generate --stream``: progress as partials arrive, partials written on request."""

from __future__ import annotations

from pathlib import Path

import pytest

from genguard.cli import main


@pytest.mark.parametrize("api", ["openai", "gemini"])
def test_generate_stream_reports_and_writes_partials(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fox.png"
    partials = tmp_path / "drafts"
    args = ["generate", "a red fox", "--sim", "--provider", api, "--stream"]
    args += ["--partials", str(partials), "-o", str(out)]
    if api == "gemini":
        args += ["--model", "gemini-3-pro-image"]  # it sketches a thought image first
    assert main(args) == 0
    captured = capsys.readouterr()
    written = sorted(p.name for p in partials.iterdir())
    expected = ["partial-a1-0.png", "partial-a1-1.png"] if api == "openai" else ["partial-a1-0.png"]
    assert written == expected
    for name in written:
        assert (partials / name).read_bytes().startswith(b"\x89PNG")
        assert f"-> {partials / name}" in captured.err
    assert captured.err.count("genguard: partial image ") == len(expected)
    assert out.read_bytes().startswith(b"\x89PNG")
    assert out.read_bytes() not in {(partials / n).read_bytes() for n in written}


def test_generate_stream_quiet_writes_partials_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partials = tmp_path / "drafts"
    args = ["-q", "generate", "x", "--sim", "--provider", "openai", "--stream"]
    assert main([*args, "--partials", str(partials), "-o", str(tmp_path / "x.png")]) == 0
    assert "partial image" not in capsys.readouterr().err
    assert len(list(partials.iterdir())) == 2


def test_partials_without_stream_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", "x", "--sim", "--partials", str(tmp_path), "-o", str(tmp_path / "x.png")]
    assert main(args) == 2
    assert "--partials needs --stream" in capsys.readouterr().err
