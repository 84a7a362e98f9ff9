"""What an error means is a fact on the error: every layer reads it, none keeps a list.

Runs without API keys, against the embedded simulator, in about a second. Three scenes:

1. A server's 429 from either provider is a ``ProviderError`` (a ``RateLimited``):
   one ``except ProviderError`` sees everything that came from upstream.
2. An application's own error classes declare facts and nothing else; the real retry,
   circuit breaker and fallback layers follow them: a retryable one is retried, a
   maintenance 503 declared ``breaker_failure = False`` never trips the breaker, and a
   ``reroutable`` one is served by the fallback provider.
3. A bad argument is refused before sending as an ``InvalidRequest``: never a
   provider's ``BadRequest``, never billed.

    python examples/error_facts.py
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from genguard import Call, Client, GenerationRequest, GenerationResult, Handler, Layer
from genguard.core import Scope
from genguard.errors import (
    BadRequest,
    GenGuardError,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
)
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.layers.retry import RetryLayer
from genguard.providers.base import Provider
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator
from genguard.sim.replies import Reply


class Overloaded(GenGuardError):
    """The application's name for an upstream overload: worth another try."""

    retryable = True


class Maintenance(ProviderError):
    """A 503 during the provider's announced maintenance window: expected, so it says it
    is no sign of a sick provider (this declared fact wins over the 5xx status)."""

    breaker_failure = False


class TryElsewhere(GenGuardError):
    """Another provider may serve the call."""

    reroutable = True


class Rename:
    """The application's innermost layer: gives the provider's 503 its own error class."""

    scope: Scope = "attempt"

    def __init__(self, make: Callable[[ProviderUnavailable], GenGuardError]) -> None:
        self.make = make

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        try:
            return await next(call)
        except ProviderUnavailable as error:
            raise self.make(error) from error


def providers(sim: Simulator) -> tuple[Provider, Provider]:
    return (
        GeminiProvider("no-key-needed", base_url=sim.base_url),
        OpenAIProvider("no-key-needed", base_url=sim.base_url),
    )


async def server_429s() -> None:
    print("1. a server's 429 is a ProviderError on both APIs")
    async with Simulator() as sim:
        for provider in providers(sim):
            sim.script(provider.name, [Reply.status(429, retry_after="2")])
            async with Client(provider) as client:
                try:
                    await client.generate("a kite over the dunes")
                except ProviderError as error:
                    print(
                        f"  {provider.name}: caught {type(error).__name__} (status "
                        f"{error.status}, retry_after={error.retry_after}, "
                        f"retryable={error.retryable}, breaker_failure={error.breaker_failure})"
                    )


async def application_errors() -> None:
    print("\n2. an application's own errors, followed by the real layers")
    async with Simulator() as sim:
        gemini, openai = providers(sim)
        retry = RetryLayer(attempts=3, initial=0.01, max_delay=0.01)

        sim.script("gemini", [Reply.status(503)])
        layers: list[Layer] = [retry, Rename(lambda e: Overloaded(e.message))]
        async with Client(gemini, layers) as client:
            result = await client.generate("a kite over the dunes")
        print(f"  Overloaded (retryable = True): image after {result.attempts} attempts")

        sim.script("gemini", [Reply.status(503)] * 5)
        breaker = CircuitBreakerLayer(fail_max=2, reset_timeout=60)
        rename = Rename(lambda e: Maintenance(e.message, status=e.status))
        async with Client(gemini, [breaker, rename]) as client:
            for _ in range(5):
                with contextlib.suppress(Maintenance):
                    await client.generate("a kite over the dunes")
        state = (await breaker.snapshot("gemini/gemini-2.5-flash-image")).state
        print(f"  Maintenance (breaker_failure = False): five 503s, the breaker is {state}")

        sim.script("gemini", [Reply.status(503)])
        fallback = FallbackLayer([FallbackTarget(openai)])
        layers = [fallback, Rename(lambda e: TryElsewhere(e.message))]
        async with Client(gemini, layers) as client:
            result = await client.generate("a kite over the dunes")
        print(f"  TryElsewhere (reroutable = True): served by {result.provider}")


async def local_refusal() -> None:
    print("\n3. a bad argument is refused before sending")
    async with Simulator() as sim:
        _, openai = providers(sim)
        async with Client(openai) as client:
            try:
                await client.generate(GenerationRequest(prompt="a kite", model="dall-e-3", n=2))
            except InvalidRequest as error:
                print(
                    f"  {type(error).__name__} on {error.field!r}: billing={error.billing}, "
                    f"a provider's BadRequest: {isinstance(error, BadRequest)}"
                )
        print(f"  requests the simulator saw: {len(sim.log)}")


async def main() -> None:
    await server_429s()
    await application_errors()
    await local_refusal()


if __name__ == "__main__":
    asyncio.run(main())
