"""``genguard sim serve``: the embedded simulator of both APIs, until interrupted."""

from __future__ import annotations

import argparse

from ..cli import EXIT_FAILED, EXIT_OK, CommandError, Commands, Output


def register(commands: Commands) -> None:
    group = commands.group("sim", help="the embedded simulator of both APIs")
    serve = group.add("serve", run_serve, help="serve the simulator until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8470)
    serve.add_argument("--profile", default="clean", help="fault profile (default: clean)")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--lenient-signatures",
        action="store_true",
        help="accept Gemini continuations without thought signatures",
    )


def run_serve(args: argparse.Namespace, output: Output) -> int:
    from ..sim import serve
    from ..sim.profiles import PROFILES

    if args.profile not in PROFILES:
        raise CommandError(
            f"unknown simulator profile {args.profile!r}; choose from {', '.join(PROFILES)}"
        )

    def announce(line: str) -> None:
        url = line.rsplit(" ", 1)[-1]
        output.result({"url": url, "profile": args.profile}, line)
        output.stdout.flush()

    try:
        output.run(
            serve(
                args.host,
                args.port,
                args.profile,
                seed=args.seed,
                strict_signatures=not args.lenient_signatures,
                announce=announce,
            )
        )
    except OSError as exc:
        raise CommandError(
            f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
            exit_code=EXIT_FAILED,
        ) from None
    return EXIT_OK
