"""The model catalogue at work, on the simulator (no API keys):

1. a request the model cannot serve fails locally, naming the allowed values;
2. a retired model warns once and names its successor;
3. with Gemini down, fallback sends the edit to OpenAI's gpt-image-2 with the
   aspect ratio and image size translated, and the result says what changed.

    python examples/model_catalogue.py
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from genguard import Client, GenerationRequest, Image
from genguard.catalogue import default_catalogue
from genguard.errors import InvalidRequest
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator, encode_png


async def refuse_locally(sim: Simulator) -> None:
    provider = GeminiProvider("sim-key", model="gemini-3-pro-image", base_url=sim.base_url)
    async with Client(provider) as client:
        try:
            await client.generate(GenerationRequest(prompt="a banner", aspect_ratio="7:3"))
        except InvalidRequest as error:
            print(f"refused before sending: {error}")
            print(f"  field={error.field!r}, requests the simulator saw: {len(sim.log)}")


async def warn_on_retired(sim: Simulator) -> None:
    provider = ImagenProvider("sim-key", model="imagen-4.0-generate-001", base_url=sim.base_url)
    async with Client(provider) as client:
        for _ in range(3):  # one warning per model, not per call
            await client.generate(GenerationRequest(prompt="a heron", n=2, aspect_ratio="16:9"))
    live = default_catalogue().successor("imagen-4.0-generate-001", datetime.now(UTC).date())
    print(f"served by the retired model; the live successor is {live.name if live else None}")


async def translate_on_fallback(gemini_sim: Simulator, openai_sim: Simulator) -> None:
    gemini_sim.set_profile("outage", duration=600)
    target = FallbackTarget(
        OpenAIProvider("sim-key", model="gpt-image-2", base_url=openai_sim.base_url)
    )
    layer = FallbackLayer([target])
    primary = GeminiProvider(
        "sim-key", model="gemini-3.1-flash-image", base_url=gemini_sim.base_url
    )
    photo = Image(encode_png(16, 16, (200, 120, 40)))
    request = GenerationRequest(
        prompt="put the mug on a walnut desk",
        aspect_ratio="21:9",
        images=(photo, photo),
        options={"image_size": "2K"},
    )
    async with Client(primary, [layer]) as client:
        result = await client.generate(request)
    await layer.aclose()
    sent = openai_sim.log[-1].body["fields"]
    print(f"served by {result.provider}/{result.model}; OpenAI got size={sent['size']}")
    for change in result.changes:
        print(f"  {change.field}: {change.before} -> {change.after} ({change.reason})")


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="  log: %(name)s: %(message)s")
    async with Simulator() as sim:
        await refuse_locally(sim)
        await warn_on_retired(sim)
    async with Simulator() as gemini_sim, Simulator() as openai_sim:
        await translate_on_fallback(gemini_sim, openai_sim)


if __name__ == "__main__":
    asyncio.run(main())
