"""The catalogue core: shipped data, lookups, aliases, lifecycle, extension, bad data."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.catalogue import Catalogue, CatalogueError, default_catalogue, load_catalogue
from genguard.catalogue.spec import FreeSize
from genguard.errors import ConfigError, InvalidRequest, UnknownModel

TODAY = date(2026, 12, 1)


def _shipped() -> dict[str, Any]:
    text = resources.files("genguard.catalogue").joinpath("models.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_shipped_data_loads_with_date_and_sources() -> None:
    catalogue = default_catalogue()
    assert catalogue.as_of == date(2026, 12, 1)
    assert len(catalogue) == len(_shipped()["models"]) >= 20
    for spec in catalogue:
        assert spec.sources, spec.name
        for source in spec.sources:
            assert source in catalogue.sources, (spec.name, source)


def test_the_issue_models_are_all_present() -> None:
    catalogue = default_catalogue()
    for name in (
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2",
        "dall-e-3",
        "gemini-2.5-flash-image",
        "gemini-3-pro-image",
        "gemini-3.1-flash-image",
        "imagen-4.0-generate-001",
    ):
        assert name in catalogue


def test_aliases_and_prefix_resolve_to_the_entry() -> None:
    catalogue = default_catalogue()
    assert catalogue.resolve("gpt-image-2-2026-04-21").name == "gpt-image-2"
    assert catalogue.resolve("models/gemini-3-pro-image").name == "gemini-3-pro-image"
    assert catalogue.resolve("gemini-2.0-flash-exp").name == "gemini-2.0-flash-exp-image-generation"
    assert catalogue.get("nope") is None
    assert "gpt-image-1.5-2025-12-16" in catalogue


def test_unknown_model_is_a_typed_local_error_with_suggestions() -> None:
    with pytest.raises(UnknownModel) as info:
        default_catalogue().resolve("gpt-image-3")
    error = info.value
    assert isinstance(error, InvalidRequest)
    assert error.field == "model" and error.model == "gpt-image-3"
    assert "gpt-image-2" in error.suggestions
    assert "did you mean" in str(error)


@pytest.mark.parametrize(
    ("name", "on", "status"),
    [
        ("gpt-image-2", TODAY, "ga"),
        ("gemini-3-pro-image-preview", date(2026, 7, 16), "deprecated"),
        ("gemini-3-pro-image-preview", date(2026, 7, 17), "retired"),
        ("gemini-2.5-flash-image-preview", date(2020, 1, 1), "retired"),
        ("imagen-4.0-generate-001", TODAY, "retired"),
    ],
)
def test_status_follows_the_retirement_date(name: str, on: date, status: str) -> None:
    assert default_catalogue().resolve(name).status(on) == status


def test_successor_chain_skips_retired_successors() -> None:
    catalogue = default_catalogue()
    # Imagen -> gemini-2.5-flash-image (itself retired 2026-10-02) -> gemini-3.1-flash-image
    assert catalogue.resolve("imagen-4.0-generate-001").lifecycle.successor == (
        "gemini-2.5-flash-image"
    )
    before = catalogue.successor("imagen-4.0-generate-001", date(2026, 9, 1))
    after = catalogue.successor("imagen-4.0-generate-001", TODAY)
    assert before is not None and before.name == "gemini-2.5-flash-image"
    assert after is not None and after.name == "gemini-3.1-flash-image"
    assert catalogue.successor("gpt-image-2", TODAY) is None


def test_extends_inherits_capabilities_not_lifecycle_or_aliases() -> None:
    catalogue = default_catalogue()
    mini = catalogue.resolve("gpt-image-1-mini")
    assert mini.capabilities.input_fidelity == ()
    assert mini.capabilities.max_input_images == 16
    assert mini.aliases == ()
    two = catalogue.resolve("gpt-image-2")
    assert two.lifecycle.retirement is None
    assert two.capabilities.free_size == FreeSize(16, 3.0, 3840, 3840 * 2160)


def test_extend_overrides_and_adds_entries_without_touching_the_original() -> None:
    base = default_catalogue()
    extended = base.extend(
        {
            "gpt-image-2": {"lifecycle": {"retirement": "2027-06-01", "successor": "my-image"}},
            "my-image": {"extends": "gpt-image-2", "aliases": ["mine"]},
            "house-gemini": {"provider": "gemini", "capabilities": {"aspect_ratios": ["1:1"]}},
        }
    )
    assert extended.resolve("gpt-image-2").status(TODAY) == "deprecated"
    assert extended.resolve("gpt-image-2").capabilities.n_max == 10  # untouched fields stay
    assert extended.resolve("mine").name == "my-image"
    assert extended.resolve("my-image").capabilities.free_size is not None
    assert extended.resolve("house-gemini").api == "generateContent"
    assert base.resolve("gpt-image-2").lifecycle.retirement is None
    assert "my-image" not in base


@pytest.mark.parametrize(
    ("entries", "path", "words"),
    [
        ({"x": {"provider": "midjourney"}}, "models.x.provider", "must be one of"),
        ({"x": {"extends": "nope"}}, "models.x.extends", "unknown model 'nope'"),
        ({"x": {"extends": "y"}, "y": {"extends": "x"}}, "models.x.extends", "cycle"),
        (
            {"x": {"provider": "openai", "capabilities": {"n_max": "ten"}}},
            "models.x.capabilities.n_max",
            "must be an integer",
        ),
        (
            {"x": {"provider": "openai", "capabilities": {"colour": True}}},
            "models.x.capabilities.colour",
            "unknown key",
        ),
        (
            {"x": {"provider": "openai", "lifecycle": {"retirement": "soon"}}},
            "models.x.lifecycle.retirement",
            "YYYY-MM-DD",
        ),
        (
            {"x": {"provider": "openai", "lifecycle": {"successor": "ghost"}}},
            "models.x.lifecycle.successor",
            "unknown model 'ghost'",
        ),
        ({"x": {"provider": "openai", "aliases": ["gpt-image-1"]}}, "models.x", "already used"),
        (
            {"x": {"provider": "openai", "capabilities": {"n_min": 3, "n_max": 2}}},
            "models.x.capabilities.n_max",
            "n_min <= n_max",
        ),
        ({"x": ["not", "a", "mapping"]}, "models.x", "must be a mapping"),
    ],
)
def test_bad_entries_name_the_field(entries: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(CatalogueError) as info:
        default_catalogue().extend(entries)
    assert isinstance(info.value, ConfigError)
    assert info.value.path == path
    assert words in info.value.reason


def test_with_prices_attaches_tables_by_name_or_alias() -> None:
    bare = load_catalogue(_shipped())
    assert all(spec.prices is None for spec in bare)
    priced = bare.with_prices(
        {"gpt-image-2-2026-04-21": {"output_image_per_mtok": 30.0}, "dall-e-3": {"image": 0.04}}
    )
    assert priced.resolve("gpt-image-2").prices == {"output_image_per_mtok": 30.0}
    assert priced.resolve("gpt-image-2-2026-04-21").prices == {"output_image_per_mtok": 30.0}
    assert priced.resolve("dall-e-3").prices == {"image": 0.04}
    assert priced.resolve("gpt-image-1").prices is None


def test_the_default_catalogue_carries_the_shipped_prices() -> None:
    from genguard.catalogue.prices import default_prices

    catalogue = default_catalogue()
    for name, price in default_prices().models.items():
        spec = catalogue.get(name)
        if spec is not None:
            assert spec.prices is price
    assert catalogue.resolve("gpt-image-2").to_dict()["prices"]["tokens"]["image_output"]


def test_to_dict_is_json_ready() -> None:
    data = default_catalogue().to_dict(TODAY)
    text = json.dumps(data)
    again = json.loads(text)
    names = [m["name"] for m in again["models"]]
    assert names == list(default_catalogue().names)
    gpt2 = next(m for m in again["models"] if m["name"] == "gpt-image-2")
    assert gpt2["status"] == "ga" and gpt2["capabilities"]["free_size"]["multiple"] == 16


def test_free_size_rules() -> None:
    rule = FreeSize()
    assert rule.problem(1024, 1024) is None
    assert rule.problem(3840, 2160) is None
    assert rule.problem(1000, 1000) == "both sides must be multiples of 16"
    assert rule.problem(3072, 1008) is not None  # wider than 3:1
    assert rule.problem(4096, 2048) is not None  # side > 3840
    assert rule.problem(3840, 2560) is not None  # too many pixels


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    ["provider", "api", "aliases", "extends", "lifecycle", "capabilities", "sources", "n"]
)
_entry = st.dictionaries(_keys, _json, max_size=5) | _json


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["version", "as_of", "sources", "models", "x"]),
        st.one_of(_json, st.just("2026-12-01"), st.dictionaries(st.text(max_size=6), _entry)),
        max_size=4,
    )
)
def test_loader_gives_a_catalogue_or_a_catalogue_error(data: dict[str, Any]) -> None:
    try:
        catalogue = load_catalogue(data)
    except CatalogueError as error:
        assert error.path is not None
    else:
        assert isinstance(catalogue, Catalogue)
        for spec in catalogue:
            assert catalogue.resolve(spec.name) is spec


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _entry, max_size=3))
def test_extend_gives_a_catalogue_or_a_catalogue_error(entries: dict[str, Any]) -> None:
    try:
        extended = default_catalogue().extend(entries)
    except CatalogueError:
        return
    assert len(extended) >= len(default_catalogue())
