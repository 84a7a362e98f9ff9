"""What a deployment does with the catalogue: the policy file's ``catalogue:`` section.

```yaml
catalogue:
  on_retired: warn      # warn (default) | fail | ignore
  on_unknown: allow     # allow (default) | warn | fail
  validate: true        # check requests against the model's capabilities before sending
  models:               # override or add entries (same shape as the shipped data)
    gpt-image-2: {lifecycle: {retirement: 2027-06-01}}
    my-image: {extends: gpt-image-2}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .spec import CatalogueError
from .store import Catalogue, default_catalogue

OnRetired = Literal["warn", "fail", "ignore"]
OnUnknown = Literal["allow", "warn", "fail"]
ON_RETIRED: tuple[OnRetired, ...] = ("warn", "fail", "ignore")
ON_UNKNOWN: tuple[OnUnknown, ...] = ("allow", "warn", "fail")
POLICY_KEYS: tuple[str, ...] = ("on_retired", "on_unknown", "validate", "models")
_RETIRED: dict[str, OnRetired] = {v: v for v in ON_RETIRED}
_UNKNOWN: dict[str, OnUnknown] = {v: v for v in ON_UNKNOWN}


@dataclass(frozen=True, slots=True)
class CataloguePolicy:
    """The catalogue a client checks requests against, and what to do about retired
    (``on_retired``) and unknown (``on_unknown``) models. ``validate=False`` sends
    requests unchecked (lifecycle rules still apply)."""

    catalogue: Catalogue = field(default_factory=default_catalogue)
    on_retired: OnRetired = "warn"
    on_unknown: OnUnknown = "allow"
    validate: bool = True


def _choice(value: object, choices: tuple[str, ...], path: str) -> str:
    if value not in choices:
        raise CatalogueError(path, f"must be one of {', '.join(choices)}, got {value!r}")
    assert isinstance(value, str)
    return value


def parse_policy(data: object, *, path: str = "catalogue") -> CataloguePolicy:
    """A policy from a ``catalogue:`` section (None gives the defaults)."""
    if data is None:
        return CataloguePolicy()
    if not isinstance(data, Mapping):
        raise CatalogueError(path, f"must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in POLICY_KEYS:
            raise CatalogueError(
                f"{path}.{key}", f"unknown key; expected one of: {', '.join(POLICY_KEYS)}"
            )
    validate = data.get("validate", True)
    if not isinstance(validate, bool):
        raise CatalogueError(f"{path}.validate", "must be true or false")
    models: Any = data.get("models")
    catalogue = default_catalogue()
    if models is not None:
        catalogue = catalogue.extend(models, path=f"{path}.models")
    on_retired = _choice(data.get("on_retired", "warn"), ON_RETIRED, f"{path}.on_retired")
    on_unknown = _choice(data.get("on_unknown", "allow"), ON_UNKNOWN, f"{path}.on_unknown")
    return CataloguePolicy(
        catalogue=catalogue,
        on_retired=_RETIRED[on_retired],
        on_unknown=_UNKNOWN[on_unknown],
        validate=validate,
    )


__all__ = ["ON_RETIRED", "ON_UNKNOWN", "CataloguePolicy", "OnRetired", "OnUnknown", "parse_policy"]
