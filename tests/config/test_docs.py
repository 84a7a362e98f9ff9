"""docs/configuration.md carries the reference generated from the schema: it cannot drift."""

from __future__ import annotations

from pathlib import Path

from genguard.config.schema import LAYER_MODELS, FallbackLayerConfig, FallbackOn
from genguard.layers.fallback import ROUTE_NAMES
from genguard.reference import render, splice

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_reference_is_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render() in text, "run: python -m genguard.reference docs/configuration.md"
    assert splice(text) == text


def test_every_layer_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, model in LAYER_MODELS.items():
        assert f"#### `{name}`" in text
        for field in model.model_fields:
            assert f"| `{field}` |" in text


def test_fallback_names_match_the_layer() -> None:
    import typing

    assert set(typing.get_args(FallbackOn)) == set(ROUTE_NAMES)
    # unset in a file, as in Python: the layer reads each error's ``reroutable`` fact
    assert FallbackLayerConfig(to=("q",)).on is None
