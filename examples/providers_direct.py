"""Call Gemini and OpenAI directly (no resilience layers) against the embedded simulator.

    python examples/providers_direct.py

Shows what the providers give back: images, usage, request ids, the Gemini model
turn with thought signatures for multi-turn edits, OpenAI rate-limit headers, and
the typed errors (with server retry hints) that the resilience layers act on.
No API key is needed: the simulator accepts any key but ``INVALID_KEY``.
"""

from __future__ import annotations

import asyncio

from genguard import Client, GenerationRequest
from genguard.errors import ContentBlocked, RateLimited
from genguard.model import Part, Turn
from genguard.providers.gemini import GeminiProvider, history_turn
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator


async def gemini(sim: Simulator) -> None:
    provider = GeminiProvider(
        "sim-key",
        base_url=sim.base_url,
        model="gemini-3-pro-image-preview",
        image_size="2K",
        safety_settings={"HARM_CATEGORY_HARASSMENT": "BLOCK_MEDIUM_AND_ABOVE"},
    )
    async with Client(provider) as client:
        first = await client.generate(
            GenerationRequest(prompt="a mug on a wooden desk", aspect_ratio="4:3", seed=0)
        )
        print(
            f"gemini: {len(first.images)} image(s), {first.image.mime_type}, "
            f"finish={first.finish_reason}, request_id={first.request_id}"
        )
        print(f"gemini: usage {first.usage}, {len(first.thought_signatures)} thought signature(s)")

        # Multi-turn edit: send the model turn back exactly as received.
        history = (Turn("user", (Part(text="a mug on a wooden desk"),)), history_turn(first))
        second = await client.generate(
            GenerationRequest(prompt="make the light warmer", history=history)
        )
        print(f"gemini: edit turn ok, {len(second.image.data)} bytes")

        sim.script("gemini", [Reply.status(429, retry_info="1.5s"), Reply.blocked("image_safety")])
        try:
            await client.generate("a fox")
        except RateLimited as error:
            print(f"gemini: RateLimited retry_after={error.retry_after}s from {error.hint_source}")
        try:
            await client.generate("a fox")
        except ContentBlocked as error:
            print(
                f"gemini: ContentBlocked stage={error.stage} reason={error.reason} "
                f"category={error.category}"
            )


async def openai(sim: Simulator) -> None:
    provider = OpenAIProvider("sim-key", base_url=sim.base_url, quality="high")
    async with Client(provider) as client:
        result = await client.generate(GenerationRequest(prompt="a red fox", size="1536x1024"))
        print(
            f"openai: {len(result.images)} image(s), request_id={result.request_id}, "
            f"usage={result.usage}"
        )
        print(f"openai: rate limit {result.rate_limit}")

        edited = await client.generate(
            GenerationRequest(prompt="make it blue", images=result.images)
        )
        print(f"openai: edit ok, {len(edited.image.data)} bytes")

        sim.script("openai", [Reply.status(429, retry_after=3)])
        try:
            await client.generate("a fox")
        except RateLimited as error:
            print(f"openai: RateLimited retry_after={error.retry_after}s from {error.hint_source}")


async def main() -> None:
    async with Simulator(profile="clean") as sim:
        await gemini(sim)
        await openai(sim)


if __name__ == "__main__":
    asyncio.run(main())
