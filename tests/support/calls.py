"""One ``Call`` for a layer tested alone, and a provider pointed at a simulator."""

from __future__ import annotations

from genguard.clock import Clock, SystemClock
from genguard.model import Call, GenerationRequest
from genguard.observe import NOOP_OBSERVER, Observer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider

SIM_KEY = "sim-key"


def make_call(
    clock: Clock | None = None,
    observer: Observer | None = None,
    *,
    request: GenerationRequest | None = None,
    prompt: str = "p",
    n: int = 1,
    tokens: int | None = None,
    metadata: dict[str, str] | None = None,
    provider: str = "sim",
    model: str = "m1",
    key: str | None = None,
    deadline: float | None = None,
    generation_id: str = "g",
) -> Call:
    """A call as the pipeline would build it; ``deadline`` is seconds from now."""
    clock = clock or SystemClock()
    now = clock.now()
    if request is None:
        request = GenerationRequest(
            prompt=prompt, n=n, metadata=metadata or {}, token_estimate=tokens
        )
    return Call(
        request=request,
        generation_id=generation_id,
        provider=provider,
        model=model,
        key=key or f"{provider}/{model}",
        observer=observer or NOOP_OBSERVER,
        clock=clock,
        started_at=now,
        deadline=None if deadline is None else now + deadline,
    )


def provider_for(
    api: str, base_url: str, api_key: str = SIM_KEY
) -> GeminiProvider | ImagenProvider | OpenAIProvider:
    """The provider speaking ``api`` ("gemini", "imagen" or "openai") at ``base_url``."""
    if api == "gemini":
        return GeminiProvider(api_key, base_url=base_url)
    if api == "imagen":
        return ImagenProvider(api_key, base_url=base_url)
    if api == "openai":
        return OpenAIProvider(api_key, base_url=base_url)
    raise ValueError(f"no provider for api {api!r}")
