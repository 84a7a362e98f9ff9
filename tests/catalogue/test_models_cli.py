"""``genguard models`` and ``genguard models check FILE`` through the real entry point."""

from __future__ import annotations

import io
import json
from pathlib import Path

from genguard.catalogue import default_catalogue
from genguard.cli import main

POLICY = """\
version: 1
catalogue:
  models:
    house-image: {extends: gpt-image-2}
profiles:
  default:
    provider: {type: gemini, model: gemini-3-pro-image, api_key: "${GEMINI_API_KEY}"}
  legacy:
    provider: {type: imagen, api_key: "${GEMINI_API_KEY}"}
  typo:
    provider: {type: openai, model: gpt-image-3, api_key: "${OPENAI_API_KEY}"}
  house:
    extends: typo
    provider: {model: house-image}
  soon:
    provider: {type: sim, api: gemini, model: gemini-2.5-flash-image}
"""


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_models_lists_every_entry_with_status_retirement_capabilities_and_prices() -> None:
    code, out, _ = _run("models", "--on", "2026-12-01")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME", "PROVIDER", "STATUS", "RETIREMENT", "SUCCESSOR", "CAPABILITIES", "PRICES"
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith("cat")}
    assert set(rows) == set(default_catalogue().names)
    assert rows["gpt-image-2"].split()[1:3] == ["openai", "ga"]
    assert "size WxH (/16, <= 3840)" in rows["gpt-image-2"]
    assert "/1M: in $5.00, img in $8.00, img out $30.00" in rows["gpt-image-2"]
    assert rows["dall-e-3"].split()[1:5] == ["openai", "retired", "2026-05-12", "gpt-image-1"]
    assert "$0.04-0.12/image" in rows["dall-e-3"]
    assert "14 ratios, image 512|1K|2K|4K" in rows["gemini-3.1-flash-image"]
    assert out.rstrip().endswith("status on 2026-12-01")


def test_models_json_is_the_catalogue_with_status_and_prices() -> None:
    code, out, _ = _run("models", "--json", "--provider", "imagen", "--on", "2026-06-01")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["on"] == "2026-06-01" and data["as_of"] == "2026-12-01"
    names = [m["name"] for m in data["models"]]
    assert names == [s.name for s in default_catalogue().for_provider("imagen")]
    first = data["models"][0]
    assert first["status"] == "deprecated" and first["retirement"] == "2026-08-17"
    assert first["capabilities"]["aspect_ratios"] == ["1:1", "3:4", "4:3", "9:16", "16:9"]
    assert first["prices"]["per_image"]  # the shipped price table, as text
    assert first["sources"]


def test_models_check_flags_retired_and_unknown_models(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    code, out, err = _run("models", "check", str(policy), "--on", "2026-09-01")
    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "ok" in rows["default"].split() and "ok" in rows["house"].split()
    assert "retired on 2026-08-17; use gemini-2.5-flash-image" in rows["legacy"]
    assert "did you mean gpt-image-2" in rows["typo"]
    assert "warn" in rows["soon"].split() and "retires on 2026-10-02" in rows["soon"]
    assert "2 of 5 profile(s) use a retired or unknown model" in err


def test_models_check_json_and_a_clean_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    code, out, _ = _run("models", "check", str(policy), "--json", "--on", "2026-12-01")
    assert code == 1
    error = json.loads(out)["error"]
    levels = {f["profile"]: f["level"] for f in error["findings"]}
    assert levels == {
        "default": "ok", "legacy": "error", "typo": "error", "house": "ok", "soon": "error"
    }  # fmt: skip
    clean = tmp_path / "clean.yaml"
    clean.write_text(
        "version: 1\nprofiles:\n  p: {provider: {type: sim, api: openai, model: gpt-image-2}}\n"
    )
    code, out, _ = _run("models", "check", str(clean), "--json")
    assert code == 0 and json.loads(out)["findings"][0]["level"] == "ok"


def test_models_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _run("models", "check")[0] == 2
    assert _run("models", "check", str(tmp_path / "missing.yaml"))[0] == 2
    assert _run("models", "--on", "tomorrow")[0] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ncatalogue: {on_retired: explode}\nprofiles: {p: {}}\n")
    code, _, err = _run("models", "check", str(bad))
    assert code == 2 and "catalogue.on_retired" in err


SHIPPED = Path(__file__).resolve().parents[2] / "src" / "genguard" / "profiles" / "production.yaml"


def test_the_shipped_production_profiles_use_live_models(monkeypatch) -> None:
    monkeypatch.delenv("GEMINI_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_IMAGE_MODEL", raising=False)
    code, out, _ = _run("models", "check", str(SHIPPED), "--on", "2026-12-01", "--json")
    assert code == 0, out
    models = {f["profile"]: f["model"] for f in json.loads(out)["findings"]}
    assert models == {"gemini": "gemini-3.1-flash-image", "openai": "gpt-image-2"}


def test_a_model_from_the_environment_is_judged_as_resolved(monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_MODEL", "gemini-2.5-flash-image")
    code, out, _ = _run("models", "check", str(SHIPPED), "--on", "2026-12-01", "--json")
    assert code == 1
    findings = json.loads(out)["error"]["findings"]
    finding = next(f for f in findings if f["profile"] == "gemini")
    assert finding["model"] == "gemini-2.5-flash-image"
    assert "gemini-3.1-flash-image" in finding["message"]
