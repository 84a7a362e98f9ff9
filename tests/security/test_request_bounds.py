"""Items 2, 10 and 12: every number and string of a request is bounded and typed before
anything is booked or sent, and a provider's refusal gives its booking back."""

from __future__ import annotations

import pytest

from genguard import Client, GenerationRequest, Image
from genguard.clock import FakeClock
from genguard.errors import BadRequest, InvalidRequest, RateLimited
from genguard.layers.rate_limit import RateLimitLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.static import TINY_PNG
from genguard.sim import Reply, Simulator

BAD_FIELDS = [
    ("n", 10**9),
    ("n", 10**400),  # used to raise an untyped OverflowError
    ("n", 0),
    ("n", 2.5),
    ("n", True),
    ("token_estimate", float("inf")),
    ("token_estimate", float("nan")),
    ("token_estimate", 10**12),
    ("token_estimate", -1),
    ("deadline", float("inf")),
    ("deadline", float("nan")),
    ("deadline", -1.0),
    ("seed", 2**80),
    ("prompt", "a cat \ud800 on a mat"),  # item 10: a lone surrogate
    ("model", "../x"),  # item 12
    ("model", "gemini-2.5-flash-image:streamGenerateContent"),
    ("model", "x?alt=sse"),
    ("model", "a/b"),
    ("idempotency_key", "k\r\nx-injected: 1"),
    ("size", "1024x1024" * 100),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_a_bad_field_is_a_typed_local_error_and_nothing_is_booked_or_sent(
    api: str, field: str, value: object
) -> None:
    layer = RateLimitLayer(images="10/min", tokens="1000/min", requests="60/min")
    async with Simulator() as sim:
        provider = (
            GeminiProvider("k", base_url=sim.base_url)
            if api == "gemini"
            else OpenAIProvider("k", base_url=sim.base_url)
        )
        async with Client(provider, [layer], deadline=5.0) as client:
            fields = {"prompt": "a cat", field: value}
            with pytest.raises(InvalidRequest) as info:
                await client.generate(GenerationRequest(**fields))  # type: ignore[arg-type]
            assert not isinstance(info.value, BadRequest)  # never a provider's 400
            assert info.value.field == field
            # The next call books and runs normally: nothing was taken.
            result = await client.generate("a cat")
        assert result.images
        assert len(sim.log) == 1


@pytest.mark.parametrize("mime", ["image/png\r\nx-injected: 1", "image/png\n", "png", ""])
async def test_a_crlf_in_an_openai_edit_mime_type_is_a_typed_error(mime: str) -> None:
    async with Simulator() as sim, Client(OpenAIProvider("k", base_url=sim.base_url)) as client:
        with pytest.raises(InvalidRequest, match="mime_type"):
            await client.generate("edit it", images=(Image(TINY_PNG, mime),))
        assert sim.log == []


async def test_a_refused_request_gives_its_images_back_to_the_limiter() -> None:
    # images 10/min: n=10 books a minute of the key. A provider 400 generated nothing,
    # so the next caller must not wait for it (or be refused past its deadline).
    clock = FakeClock()
    layer = RateLimitLayer(images="10/min")
    async with Simulator() as sim:
        sim.script("openai", [Reply.status(400, message="bad size")])
        provider = OpenAIProvider("k", base_url=sim.base_url)
        async with Client(provider, [layer], deadline=2.0, clock=clock) as client:
            with pytest.raises(BadRequest):
                await client.generate("a cat", n=10)
            result = await client.generate("a cat", n=1)
    assert result.images
    assert clock.slept == [] or max(clock.slept) < 2.0


async def test_a_key_is_never_blocked_for_years() -> None:
    # The worst a request can book is MAX_N images: a bounded wait, not 5e8 seconds.
    layer = RateLimitLayer(images="10/min")
    async with Simulator() as sim:
        provider = OpenAIProvider("k", base_url=sim.base_url)
        async with Client(provider, [layer], deadline=1.0, clock=FakeClock()) as client:
            await client.generate("a cat", n=10)
            with pytest.raises(RateLimited) as info:
                await client.generate("a cat", n=10)
    assert info.value.retry_after is not None and info.value.retry_after <= 60.0


@pytest.mark.parametrize("provider_cls", [GeminiProvider, ImagenProvider])
@pytest.mark.parametrize("model", ["../x", "..%2Fx", "a/../../b", "x#frag"])
async def test_a_hostile_model_name_never_reaches_the_url(
    provider_cls: type[GeminiProvider] | type[ImagenProvider], model: str
) -> None:
    async with Simulator(capture=True) as server:  # captures any path, routed or not
        provider = provider_cls("AIza-secret-key-for-this-test-0001", base_url=server.base_url)
        async with Client(provider) as client:
            with pytest.raises(InvalidRequest):
                await client.generate("a cat", model=model)
            # Even a provider default the request never checked is refused in the URL.
            provider.model = model
            with pytest.raises(InvalidRequest):
                await client.generate("a cat")
    assert len(server.captured) == 0
