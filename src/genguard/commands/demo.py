"""``genguard demo``: the main job with no API key, against the embedded simulator."""

from __future__ import annotations

import argparse
from typing import Any

from ..cli import EXIT_USAGE, CommandError, Commands, Output


def register(commands: Commands) -> None:
    parser = commands.add(
        "demo",
        run,
        help="run a few dozen generations through the full stack against the simulator",
        description="The main job, with no API key: a few dozen generations through the "
        "default policy stack (telemetry, safety, retry, circuit breaker, rate limit, "
        "timeout) at simulator scale against the embedded simulator under a fault "
        "profile, then a summary.",
    )
    parser.add_argument(
        "--profile",
        default="flaky",
        help="simulator fault profile: clean, flaky, ratelimit, httpdate, "
        "outage, slow, safety (default: flaky)",
    )
    parser.add_argument("--api", choices=["gemini", "openai"], default="gemini")
    parser.add_argument("--calls", type=int, default=40, help="how many generations (default 40)")
    parser.add_argument("--concurrency", type=int, default=8, help="in flight at once (default 8)")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port and keep them up after the run",
    )


def run(args: argparse.Namespace, output: Output) -> int:
    from ..demo import demo_summary, serve_metrics_until_interrupted
    from ..sim.profiles import PROFILES

    if args.calls < 1 or args.concurrency < 1:
        raise CommandError("--calls and --concurrency must be >= 1", exit_code=EXIT_USAGE)
    if args.profile not in PROFILES:
        raise CommandError(
            f"unknown simulator profile {args.profile!r}; choose from {', '.join(PROFILES)}"
        )
    metrics: Any = None
    if args.metrics_port is not None:
        from ..telemetry.prometheus import start_metrics_server

        metrics = start_metrics_server(args.metrics_port)

    async def work() -> int:
        async with output.progress(f"{args.calls} generations"):
            summary = await demo_summary(
                profile=args.profile,
                api=args.api,
                calls=args.calls,
                concurrency=args.concurrency,
                seed=args.seed,
                meter_provider=None if metrics is None else metrics.meter_provider,
                announce=None if output.json else lambda line: print(line, file=output.stdout),
            )
        output.result(summary.data, summary.lines)
        if metrics is not None:
            await serve_metrics_until_interrupted(metrics, output.note)
        return summary.exit_code

    return output.run(work())
