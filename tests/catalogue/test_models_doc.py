"""docs/models.md is generated from the shipped catalogue: it cannot drift."""

from __future__ import annotations

from pathlib import Path

from genguard.catalogue import default_catalogue
from genguard.catalogue.reference import COMMAND, main, render

DOC = Path(__file__).parents[2] / "docs" / "models.md"


def test_models_page_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), f"run: {COMMAND}"


def test_every_entry_has_its_section_sources_and_dates() -> None:
    text = render()
    for spec in default_catalogue():
        assert f"### `{spec.name}`" in text
        if spec.lifecycle.retirement is not None:
            assert f"retirement **{spec.lifecycle.retirement.isoformat()}**" in text
    for source in default_catalogue().sources.values():
        assert source in text


def test_the_generator_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "models.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render()
    assert main([]) == 2
