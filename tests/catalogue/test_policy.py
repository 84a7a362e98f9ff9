"""The policy file's ``catalogue:`` section: defaults, overrides, and errors with paths."""

from __future__ import annotations

from datetime import date

import pytest

from genguard.catalogue.policy import CataloguePolicy, parse_policy
from genguard.catalogue.spec import CatalogueError
from genguard.config import parse_config
from genguard.errors import ConfigErrors

PROFILES = """
profiles:
  default:
    provider: {type: sim}
"""


def test_defaults_warn_on_retired_and_allow_unknown() -> None:
    policy = parse_policy(None)
    assert policy == CataloguePolicy()
    assert (policy.on_retired, policy.on_unknown, policy.validate) == ("warn", "allow", True)


def test_a_config_file_extends_the_catalogue() -> None:
    config = parse_config(
        "version: 1\n"
        "catalogue:\n"
        "  on_retired: fail\n"
        "  on_unknown: warn\n"
        "  models:\n"
        "    gpt-image-2: {lifecycle: {retirement: 2027-06-01}}\n"
        "    house-image: {extends: gpt-image-2, aliases: [house]}\n" + PROFILES
    )
    policy = parse_policy(config.catalogue)
    assert (policy.on_retired, policy.on_unknown) == ("fail", "warn")
    spec = policy.catalogue.resolve("gpt-image-2")
    assert spec.lifecycle.retirement == date(2027, 6, 1)
    assert policy.catalogue.resolve("house").name == "house-image"


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("  on_retired: explode\n", "catalogue.on_retired"),
        ("  on_unknown: 3\n", "catalogue.on_unknown"),
        ("  validate: maybe\n", "catalogue.validate"),
        ("  colour: blue\n", "catalogue.colour"),
        ("  models: {x: {provider: nobody}}\n", "catalogue.models.x.provider"),
    ],
)
def test_a_bad_catalogue_section_is_a_config_error_with_its_path(section: str, path: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        parse_config("version: 1\ncatalogue:\n" + section + PROFILES)
    assert [e.path for e in info.value.errors] == [path]


def test_parse_policy_rejects_a_non_mapping() -> None:
    with pytest.raises(CatalogueError, match="must be a mapping"):
        parse_policy(["models"])
