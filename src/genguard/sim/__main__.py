"""``python -m genguard.sim --port 8080 --profile flaky -o failure_rate=0.5``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

from .profiles import PROFILES
from .server import serve


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it parses ("0.5", "true",
    '["imf"]'), else kept as a string ("imf,asctime")."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m genguard.sim",
        description="Serve the genguard simulator (Gemini + OpenAI image APIs) over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--profile", default="clean", choices=sorted(PROFILES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lenient-signatures",
        action="store_true",
        help="accept Gemini 3 history without (or with unknown) thought signatures",
    )
    parser.add_argument("--max-image-side", type=int, default=256)
    parser.add_argument(
        "--no-record", action="store_true", help="keep counters only (long benchmarks)"
    )
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        type=parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="a profile option, e.g. -o failure_rate=0.5 (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    options = dict(args.option)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                args.host,
                args.port,
                args.profile,
                seed=args.seed,
                strict_signatures=not args.lenient_signatures,
                max_image_side=args.max_image_side,
                record=not args.no_record,
                **options,
            )
        )


if __name__ == "__main__":
    main()
