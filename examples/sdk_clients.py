"""Keep your openai / google-genai client and put genguard's layers around it.

    python examples/sdk_clients.py

Both official SDKs are pointed at the embedded simulator (its ``flaky`` profile: 503s
and 429s with retry hints), wrapped in the shipped production policy. The SDKs' own
retries are off, so the simulator sees one request per genguard attempt. With real
clients, build them as you do today (keys, Vertex AI, Azure, proxies) and pass them in
the same way. Needs the ``sdk`` extra.
"""

from __future__ import annotations

import asyncio

import openai
from google import genai

from genguard.profiles import production_client
from genguard.providers.genai_sdk import GenAISDKProvider
from genguard.providers.openai_sdk import OpenAISDKProvider
from genguard.sim import Simulator


async def main() -> None:
    async with Simulator("flaky", max_hint=0.2, seed=3) as sim:
        openai_sdk = openai.AsyncOpenAI(api_key="sk-simulator", base_url=f"{sim.base_url}/v1")
        genai_sdk = genai.Client(
            api_key="simulator",
            http_options=genai.types.HttpOptions(base_url=sim.base_url, api_version="v1beta"),
        )
        for name, provider in (
            ("openai", OpenAISDKProvider(openai_sdk)),
            ("gemini", GenAISDKProvider(genai_sdk)),
        ):
            before = len(sim.log)
            attempts = 0
            async with production_client(name, provider=provider) as client:
                for index in range(4):
                    result = await client.generate(f"a lighthouse #{index}", seed=index)
                    attempts += result.attempts
                    print(f"{name}: {result}")
            sent = len(sim.log) - before
            verdict = "one request per attempt" if sent == attempts else "SDK retries leaked"
            print(f"{name}: {attempts} genguard attempts, {sent} requests seen: {verdict}")
        await openai_sdk.close()
        await genai_sdk.aio.aclose()


if __name__ == "__main__":
    asyncio.run(main())
