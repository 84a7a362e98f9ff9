"""A three-turn refinement on the simulator, saved to JSON and continued by a fresh client.

Run: python examples/conversation.py   (no API key needed)
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from genguard import Client
from genguard.conversation import Conversation
from genguard.demo import default_stack
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator


async def main() -> None:
    # Strict mode: the simulator refuses a continuation whose parts lost their signatures.
    async with Simulator(strict_signatures=True) as sim:
        provider = GeminiProvider(
            "sim-key", base_url=sim.base_url, model="gemini-3-pro-image-preview"
        )
        async with Client(provider, default_stack(), deadline=60) as client:
            conv = client.conversation(max_turns=12)
            for prompt in ("a mug on a wooden desk", "make the light warmer"):
                result = await conv.send(prompt)
                print(
                    f"{prompt!r}: {len(result.images)} image(s), "
                    f"{len(result.thought_signatures)} signature(s)"
                )
            saved = conv.to_json()

        with tempfile.TemporaryDirectory() as folder:
            saved_path = Path(folder, "conversation.json")
            await asyncio.to_thread(saved_path.write_text, saved)
            async with Client(provider, default_stack(), deadline=60) as other_process:
                resumed = Conversation.from_json(other_process, saved)
                result = await resumed.send("now from closer")
                print(
                    f"resumed after {len(resumed.turns) - 2} turns: {len(result.images)} image(s)"
                )


if __name__ == "__main__":
    asyncio.run(main())
