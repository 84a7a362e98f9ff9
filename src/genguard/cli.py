"""The ``genguard`` command: generate, demo, the simulator, and config checks.

Every failure is one clear line on stderr and a non-zero exit code:
2 for bad usage or configuration, 1 for a generation that failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError, GenGuardError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genguard",
        description="Safe calls to AI image-generation APIs: retry, rate limits, circuit "
        "breaking, safety and telemetry around Gemini and OpenAI Images.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser(
        "generate",
        help="generate one image and write it to a file",
        description="Generate one image. With no API key (GEMINI_API_KEY / OPENAI_API_KEY "
        "or --config) the embedded simulator answers, and genguard says so.",
    )
    gen.add_argument("prompt", help="what to draw")
    gen.add_argument("--out", "-o", required=True, type=Path, help="where to write the image")
    gen.add_argument(
        "--provider",
        choices=["gemini", "openai"],
        default=None,
        help="which API (default: whichever has a key, else gemini on the simulator)",
    )
    gen.add_argument("--model", default=None, help="model id (default: the provider's)")
    gen.add_argument("--size", default=None, help="WxH, e.g. 1024x1024")
    gen.add_argument("--aspect-ratio", default=None, help="e.g. 16:9 (Gemini)")
    gen.add_argument("--seed", type=int, default=None, help="seed (0 is a valid seed)")
    gen.add_argument("--config", type=Path, default=None, help="policy file (YAML or TOML)")
    gen.add_argument("--profile", default=None, help="profile in the policy file")
    gen.add_argument(
        "--sim-profile",
        default="clean",
        help="fault profile when the simulator answers (default: clean)",
    )

    demo = sub.add_parser(
        "demo",
        help="run a few dozen generations through the full stack against the simulator",
        description="The main job, with no API key: a few dozen generations through the "
        "default policy stack (telemetry, safety, retry, circuit breaker, rate limit, "
        "timeout) against the embedded simulator under a fault profile, then a summary.",
    )
    demo.add_argument(
        "--profile",
        default="flaky",
        help="simulator fault profile: clean, flaky, ratelimit, httpdate, "
        "outage, slow, safety (default: flaky)",
    )
    demo.add_argument("--api", choices=["gemini", "openai"], default="gemini")
    demo.add_argument("--calls", type=int, default=40, help="how many generations (default 40)")
    demo.add_argument("--concurrency", type=int, default=8, help="in flight at once (default 8)")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    demo.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port and keep them up after the run",
    )

    sim = sub.add_parser("sim", help="the embedded simulator of both APIs")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    serve = sim_sub.add_parser("serve", help="serve the simulator until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8470)
    serve.add_argument("--profile", default="clean")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--lenient-signatures",
        action="store_true",
        help="accept Gemini continuations without thought signatures",
    )

    config = sub.add_parser("config", help="check or show a policy file")
    config_sub = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    check = config_sub.add_parser("check", help="validate a policy file, listing every error")
    check.add_argument("file", type=Path)
    check.add_argument("--profile", default=None, help="check one profile (default: all)")
    show = config_sub.add_parser("show", help="print the fully resolved stack, secrets masked")
    show.add_argument("file", type=Path)
    show.add_argument("--profile", required=True)

    from .batch.cli import add_batch_parser

    add_batch_parser(sub)
    from .testing.cli import add_parser as add_check_stack

    add_check_stack(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            return asyncio.run(_generate(args))
        if args.command == "demo":
            from .demo import run_demo

            if args.calls < 1 or args.concurrency < 1:
                return _fail("--calls and --concurrency must be >= 1", EXIT_USAGE)
            return asyncio.run(
                run_demo(
                    profile=args.profile,
                    api=args.api,
                    calls=args.calls,
                    concurrency=args.concurrency,
                    seed=args.seed,
                    metrics_port=args.metrics_port,
                )
            )
        if args.command == "sim" and args.sim_command == "serve":
            return _serve_sim(args)
        if args.command == "config" and args.config_command in ("check", "show"):
            return _config(args)
        if args.command == "batch":
            from .batch.cli import main as batch_main

            return batch_main(args)
        handler = getattr(args, "handler", None)
        if handler is not None:
            return int(handler(args))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_USAGE)
    except GenGuardError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", EXIT_FAILED)
    parser.print_help()
    return EXIT_USAGE


def _fail(message: str, code: int) -> int:
    print(f"genguard: {message}", file=sys.stderr)
    return code


async def _generate(args: argparse.Namespace) -> int:
    from .model import GenerationRequest
    from .providers.gemini import GeminiProvider
    from .providers.openai import OpenAIProvider
    from .sim import Simulator

    request = GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        size=args.size,
        aspect_ratio=args.aspect_ratio,
        seed=args.seed,
    )
    if args.config is not None or os.environ.get("GENGUARD_CONFIG"):
        from .config import client_from_config

        client = client_from_config(args.config, profile=args.profile)
        async with client:
            result = await client.generate(request)
        return _write(
            result.image.data, result.image.mime_type, args.out, result.provider, result.model
        )

    keys = {"gemini": os.environ.get("GEMINI_API_KEY"), "openai": os.environ.get("OPENAI_API_KEY")}
    api = args.provider or next((name for name, key in keys.items() if key), "gemini")
    key = keys[api]
    layers = _default_layers()
    if key:
        provider = GeminiProvider(key) if api == "gemini" else OpenAIProvider(key)
        return await _run_one(provider, layers, request, args.out)
    print(
        f"genguard: no {api.upper()}_API_KEY set: using the embedded simulator "
        f"(profile {args.sim_profile})",
        file=sys.stderr,
    )
    async with Simulator(profile=args.sim_profile) as sim:
        sim_key = "simulator-key"
        provider = (
            GeminiProvider(sim_key, base_url=sim.base_url)
            if api == "gemini"
            else OpenAIProvider(sim_key, base_url=sim.base_url)
        )
        return await _run_one(provider, layers, request, args.out)


def _default_layers() -> list[object]:
    from .demo import default_stack

    return list(default_stack())


async def _run_one(provider: object, layers: list[object], request: object, out: Path) -> int:
    from .model import GenerationRequest
    from .pipeline import Client

    assert isinstance(request, GenerationRequest)
    async with Client(provider, layers, deadline=120) as client:  # type: ignore[arg-type]
        result = await client.generate(request)
    return _write(result.image.data, result.image.mime_type, out, result.provider, result.model)


def _write(data: bytes, mime: str, out: Path, provider: str, model: str) -> int:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc.strerror}", EXIT_FAILED)
    print(f"wrote {out} ({len(data)} bytes, {mime}) from {provider}/{model}")
    return EXIT_OK


def _serve_sim(args: argparse.Namespace) -> int:
    from .sim import serve

    try:
        asyncio.run(
            serve(
                args.host,
                args.port,
                args.profile,
                seed=args.seed,
                strict_signatures=not args.lenient_signatures,
            )
        )
    except OSError as exc:
        return _fail(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", EXIT_FAILED)
    return EXIT_OK


def _config(args: argparse.Namespace) -> int:
    from . import config

    if not args.file.exists():
        return _fail(f"no such file: {args.file}", EXIT_USAGE)
    if args.config_command == "check":
        problems = config.check(args.file, profile=args.profile)
        errors = [p for p in problems if not isinstance(p, config.ConfigWarning)]
        for problem in problems:
            kind = "warning" if isinstance(problem, config.ConfigWarning) else "error"
            print(f"{kind}: {problem}", file=sys.stderr)
        if config.has_errors(problems):
            print(f"{args.file}: {len(errors)} error(s)", file=sys.stderr)
            return EXIT_USAGE
        print(f"{args.file}: ok" + (f" ({len(problems)} warning(s))" if problems else ""))
        return EXIT_OK
    print(config.show(args.file, args.profile))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
