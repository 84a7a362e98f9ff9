"""``genguard batch run|status|retry``: registered from ``genguard.batch.cli``."""

from __future__ import annotations

from ..cli import Commands


def register(commands: Commands) -> None:
    from ..batch.cli import add_batch_parser, main

    commands.adopt("batch", add_batch_parser, main)
