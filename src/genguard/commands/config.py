"""``genguard config check|show``: validate a policy file, or print a resolved profile."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..cli import EXIT_OK, EXIT_USAGE, CommandError, Commands, Output


def register(commands: Commands) -> None:
    group = commands.group("config", help="check or show a policy file")
    check = group.add(
        "check",
        run_check,
        help="validate a policy file, listing every error",
        description="Validate a policy file, listing every error once. --offline checks "
        "everything but the secrets, so CI can run it without production keys.",
    )
    check.add_argument("file", type=Path)
    check.add_argument("--profile", default=None, help="check one profile (default: all)")
    check.add_argument(
        "--offline",
        action="store_true",
        help="do not require secrets: their variables and files need not exist",
    )
    show = group.add("show", run_show, help="print the fully resolved stack, secrets masked")
    show.add_argument("file", type=Path)
    show.add_argument("--profile", required=True)


def _existing(file: Path) -> Path:
    if not file.exists():
        raise CommandError(f"no such file: {file}", exit_code=EXIT_USAGE)
    return file


def run_check(args: argparse.Namespace, output: Output) -> int:
    from .. import config

    problems = config.check(_existing(args.file), profile=args.profile, offline=args.offline)
    errors: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    for problem in problems:
        kind = warnings if isinstance(problem, config.ConfigWarning) else errors
        # one line per distinct problem: a variable missing from five profiles is one fix
        kind.setdefault(problem.reason, []).append(problem.path)
    listed: list[dict[str, Any]] = [
        {"severity": severity, "message": reason, "paths": paths}
        for severity, found in (("error", errors), ("warning", warnings))
        for reason, paths in found.items()
    ]
    human = [f"{item['severity']}: {_where(item['paths'])}: {item['message']}" for item in listed]
    data = {"file": str(args.file), "errors": len(errors), "warnings": len(warnings)}
    if errors:
        for line in human:
            print(line, file=output.stderr)
        raise CommandError(
            f"{args.file}: {len(errors)} error(s)",
            exit_code=EXIT_USAGE,
            details={**data, "problems": listed},
        )
    summary = f"{args.file}: ok" + (f" ({len(warnings)} warning(s))" if warnings else "")
    if args.offline:
        summary += " (offline: secrets not read)"
    if not output.json:
        for line in human:
            print(line, file=output.stderr)
    output.result({**data, "offline": args.offline, "problems": listed}, summary)
    return EXIT_OK


def _where(paths: list[str]) -> str:
    shown = [p for p in paths if p] or ["<file>"]
    return shown[0] if len(shown) == 1 else f"{shown[0]} (and {len(shown) - 1} more)"


def run_show(args: argparse.Namespace, output: Output) -> int:
    from .. import config

    text = config.show(_existing(args.file), args.profile)
    output.result({"file": str(args.file), "profile": args.profile, "yaml": text}, text)
    return EXIT_OK
