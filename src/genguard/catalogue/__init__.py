"""The model catalogue: which models exist, what each accepts, and when each retires.

``default_catalogue()`` is the data shipped with genguard (``models.json``, with
its sources and the date it was checked); ``Catalogue.resolve(name)`` finds an
entry by name or alias (an unknown name is an ``UnknownModel`` error), and
``Catalogue.extend`` applies a policy file's ``models:`` section.
"""

from .spec import (
    Capabilities,
    CatalogueError,
    FreeSize,
    Lifecycle,
    ModelSpec,
    Stage,
    Status,
)
from .store import Catalogue, default_catalogue, load_catalogue

__all__ = [
    "Capabilities",
    "Catalogue",
    "CatalogueError",
    "FreeSize",
    "Lifecycle",
    "ModelSpec",
    "Stage",
    "Status",
    "default_catalogue",
    "load_catalogue",
]
