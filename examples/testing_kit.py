"""The testing kit: check a policy file against the fault catalogue, then record and replay.

    python examples/testing_kit.py

Runs the production example's stack under three faults (each with its own simulator),
prints the verdict table, then records a rate-limited exchange into a cassette (the key
scrubbed) and replays it from a fresh simulator.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from genguard import Client, RateLimited
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator
from genguard.testing import RecordingTransport, check_stack, load_cassette
from genguard.testing.conformance import render_table
from genguard.testing.faults import select_faults

POLICY = Path(__file__).with_name("production.yaml")


async def main() -> None:
    verdicts = await check_stack(POLICY, faults=select_faults("clean,flaky,outage"), calls=8)
    print(render_table(verdicts))

    with tempfile.TemporaryDirectory() as folder:
        cassette_path = Path(folder) / "cassette.json"
        async with Simulator() as sim:
            sim.script("openai", [Reply.status(429, retry_after_ms=250)])
            transport = RecordingTransport()
            provider = OpenAIProvider("sk-example-secret", base_url=sim.base_url)
            async with Client(provider, [], transport=transport) as client:
                try:
                    await client.generate("a red fox")
                except RateLimited as error:
                    print(f"recorded: {type(error).__name__} retry_after={error.retry_after}")
            await transport.aclose()  # a transport handed to a Client stays the caller's
            transport.cassette.save(cassette_path)
        assert "sk-example-secret" not in cassette_path.read_text()

        async with Simulator() as sim:
            load_cassette(cassette_path).replay_into(sim)
            provider = OpenAIProvider("another-key", base_url=sim.base_url)
            async with Client(provider, []) as client:
                try:
                    await client.generate("a red fox")
                except RateLimited as error:
                    print(f"replayed: {type(error).__name__} retry_after={error.retry_after}")


if __name__ == "__main__":
    asyncio.run(main())
