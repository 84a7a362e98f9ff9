"""``genguard batch run|status|retry``: registered from ``genguard.batch.cli``."""

from __future__ import annotations

from ..cli import Commands


def register(commands: Commands) -> None:
    from ..batch.cli import register as register_batch

    register_batch(commands)
