"""``genguard check-stack FILE``: the conformance command, registered by the main CLI."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check-stack`` to the ``genguard`` command's subcommands."""
    from .faults import DEFAULT_FAULTS

    parser = sub.add_parser(
        "check-stack",
        help="run a policy file's stack against the simulator's fault catalogue",
        description="Run the stack of one profile against every fault in the catalogue "
        f"({', '.join(f.name for f in DEFAULT_FAULTS)}) on the embedded simulator and print "
        "a verdict table. Exit 0 when every fault passes, 1 when any fails, 2 for a bad "
        "file. Providers point at the simulator, state is local memory and metric "
        "servers are off; everything else runs as configured.",
    )
    parser.add_argument("file", type=Path, help="policy file (YAML or TOML)")
    parser.add_argument("--profile", default=None, help="profile to check (default: default)")
    parser.add_argument("--faults", default=None, help="comma-separated subset of the faults")
    parser.add_argument("--calls", type=int, default=24, help="calls per fault (default 24)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="calls in flight per fault (default 8)"
    )
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from .conformance import check_stack, render_table, verdicts_json
    from .faults import select_faults

    try:
        faults = select_faults(args.faults)
    except ValueError as exc:
        print(f"genguard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.calls < 1 or args.concurrency < 1:
        print("genguard: --calls and --concurrency must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    if not args.file.is_file():
        print(f"genguard: no such policy file: {args.file}", file=sys.stderr)
        return EXIT_USAGE
    try:
        verdicts = asyncio.run(
            check_stack(
                args.file,
                args.profile,
                faults=faults,
                calls=args.calls,
                concurrency=args.concurrency,
            )
        )
    except ConfigError as exc:
        print(f"genguard: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(verdicts_json(verdicts))
    else:
        print(
            f"check-stack {args.file} (profile {args.profile or 'default'}): providers on the "
            "embedded simulator, memory state, no metric servers"
        )
        print(render_table(verdicts))
    return EXIT_OK if all(v.passed for v in verdicts) else EXIT_FAILED


__all__ = ["add_parser", "run"]
