"""The mutation check's mutants still apply: each snippet is in its file exactly once.

``make mutation`` runs the mutants (minutes); this runs with every ``make test`` (ms), so
a change that moves a mutated condition says so at once: update the mutant's snippet in
``tools/mutation_check.py`` with the code, rather than leaving a mutant that tests nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mutation_check", ROOT / "tools" / "mutation_check.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutation_check", module)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


@pytest.mark.parametrize("mutant", TOOL.MUTANTS, ids=lambda m: m.name)
def test_each_mutant_applies_once_and_changes_the_code(mutant: Any) -> None:
    source = (ROOT / "src" / "genguard" / mutant.path).read_text()
    assert source.count(mutant.original) == 1, (
        f"{mutant.name}: its snippet is no longer in src/genguard/{mutant.path} exactly once; "
        "update tools/mutation_check.py"
    )
    assert mutant.mutated != mutant.original
    for target in mutant.tests:
        assert (ROOT / target.split("::")[0]).exists(), target


def test_names_are_unique() -> None:
    names = [m.name for m in TOOL.MUTANTS]
    assert len(names) == len(set(names))
