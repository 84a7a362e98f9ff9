"""A subcommand registered from its own module, as other engineers' commands are."""

from __future__ import annotations

import argparse

from genguard.cli import CommandError, Commands, Output
from genguard.errors import RateLimited


def register(commands: Commands) -> None:
    parser = commands.add("hello", run, help="say hello")
    parser.add_argument("name")


def run(args: argparse.Namespace, output: Output) -> int:
    if args.name == "nobody":
        raise CommandError("nobody to greet")
    if args.name == "busy":
        raise RateLimited("try later", retry_after=2.5)
    output.note("greeting")
    output.result({"greeting": f"hello {args.name}"}, f"hello {args.name}")
    return 0
