"""Streaming on the embedded simulator: partial images, a restart, and a quiet stream cut off.

Runs without API keys in about two seconds. Three short scenes, on both APIs:

1. A generation that sends a draft every 0.2 s: each partial image is printed
   (and written to ``--out`` if given) as it arrives, then the final image.
2. The connection drops after the drafts and before the image: genguard starts
   the generation over once (a new, billed generation) and says so.
3. A generation that stays silent longer than the idle timeout: a typed
   ``StreamTimeout`` that says which timer fired.

    python examples/streaming.py [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from genguard import Client
from genguard.errors import StreamTimeout
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator
from genguard.streaming import Completed, PartialImage, Restarted, StreamOptions


def provider(api: str, sim: Simulator) -> GeminiProvider | OpenAIProvider:
    if api == "gemini":
        return GeminiProvider("sim-key", base_url=sim.base_url)
    return OpenAIProvider("sim-key", base_url=sim.base_url)


async def show(client: Client, prompt: str, out: Path | None, options: StreamOptions) -> None:
    async with client.stream(prompt, settings=options) as stream:
        async for event in stream:
            if isinstance(event, PartialImage):
                print(
                    f"    partial {event.index} of attempt {event.attempt} after "
                    f"{event.elapsed:.2f}s ({len(event.image.data)} bytes)"
                )
                if out is not None:
                    name = f"{stream.call.generation_id}-a{event.attempt}-p{event.index}.png"
                    (out / name).write_bytes(event.image.data)
            elif isinstance(event, Restarted):
                print(
                    f"    restarted as attempt {event.attempt} after {event.reason}; "
                    f"{event.discarded} partial(s) discarded"
                )
            elif isinstance(event, Completed):
                result = event.result
                print(
                    f"    done: {len(result.image.data)} bytes in {result.latency:.2f}s, "
                    f"{result.attempts} attempt(s), {result.usage.output_tokens} output tokens"
                )


async def main(out: Path | None) -> None:
    options = StreamOptions(idle=0.5, partial_images=3)
    retry = RetryLayer(attempts=3, initial=0.05, max_delay=0.1)
    async with Simulator() as sim:
        for api in ("openai", "gemini"):
            async with Client(provider(api, sim), [retry]) as client:
                print(f"{api}: a draft every 0.2 s")
                sim.script(api, [Reply.stream(partials=3, first_event=0.2, gap=0.2)])
                await show(client, "a lighthouse at dusk", out, options)

                print(f"{api}: the stream drops before the image")
                sim.script(api, [Reply.stream(partials=2, fault="drop"), Reply.stream(partials=2)])
                await show(client, "a lighthouse at dawn", out, options)

            print(f"{api}: silent for longer than the 0.5 s idle timeout (no retry layer)")
            sim.script(api, [Reply.stream(partials=0, first_event=1.0)])
            async with Client(provider(api, sim)) as client:
                try:
                    await show(client, "a lighthouse at night", out, options)
                except StreamTimeout as exc:
                    print(f"    StreamTimeout(phase={exc.phase!r}, timeout={exc.timeout:g}s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write partial images here")
    args = parser.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.out))
