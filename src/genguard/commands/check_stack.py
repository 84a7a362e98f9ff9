"""``genguard check-stack FILE``: registered from ``genguard.testing.cli``."""

from __future__ import annotations

import argparse

from ..cli import Commands


def register(commands: Commands) -> None:
    from ..testing.cli import add_parser

    def run(args: argparse.Namespace) -> int:
        return int(args.handler(args))

    commands.adopt("check-stack", add_parser, run)
