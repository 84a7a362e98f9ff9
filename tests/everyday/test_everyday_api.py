"""Everyday API: the sync facade and one-liner, Image.save/to_pil, short reprs, typed
request fields and provider options, keys as str or SecretStr, proxies from the environment."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

import genguard
from genguard import Client, GenerationRequest, GenerationResult, Image, Part, SyncClient
from genguard.config import Pipeline
from genguard.errors import AuthenticationError, ConfigError, InvalidRequest
from genguard.imagefile import ImageFormatError, sniff, target_path
from genguard.model import make_request
from genguard.profiles import MissingKey
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.options import check_options
from genguard.providers.transport import HttpTransport
from genguard.sim import Simulator

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("GEMINI_API_KEY", "OPENAI_API_KEY", "GENGUARD_CONFIG", "GENGUARD_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    yield


# -- sync facade -------------------------------------------------------------------------------


def test_one_liner_generates_and_saves(tmp_path: Path) -> None:
    result = genguard.generate("a red fox", seed=0, simulator="clean")
    assert result.provider == "gemini" and result.attempts == 1
    path = result.save(tmp_path / "fox")
    assert path == tmp_path / "fox.png" and path.read_bytes().startswith(PNG)


def test_one_liner_without_a_key_says_how_to_proceed() -> None:
    with pytest.raises(MissingKey) as missing:
        genguard.generate("a red fox")
    assert missing.value.variable == "GEMINI_API_KEY"
    for hint in ("GEMINI_API_KEY", "OPENAI_API_KEY", "GENGUARD_CONFIG", 'simulator="clean"'):
        assert hint in str(missing.value)
    assert isinstance(missing.value, ConfigError)


def test_one_liner_from_a_policy_file_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENGUARD_CONFIG", str(ROOT / "examples" / "dev.yaml"))
    monkeypatch.setenv("GENGUARD_PROFILE", "openai")
    result = genguard.generate("a boat")
    assert result.provider == "openai"


def test_a_key_picks_its_api(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> GenerationResult:
        async with Simulator("clean") as sim:
            monkeypatch.setenv("OPENAI_API_KEY", "sk-one-liner-test-00000000000")
            monkeypatch.setenv("OPENAI_BASE_URL", sim.base_url)
            return await genguard.agenerate("a boat")

    assert asyncio.run(scenario()).provider == "openai"


async def test_sync_client_works_inside_a_running_loop() -> None:
    """A notebook cell runs inside a loop; asyncio.run would refuse, SyncClient does not."""
    with SyncClient.from_profile("gemini", simulator="flaky") as client:
        results = [client.generate(f"a lighthouse {i}", seed=i) for i in range(4)]
        assert all(r.image.format == "image/png" for r in results)
        assert "open" in repr(client)
    assert "closed" in repr(client)
    with pytest.raises(RuntimeError):
        client.generate("after close")


def test_sync_client_errors_are_genguard_errors() -> None:
    with SyncClient.from_profile("sim") as client:
        with pytest.raises(genguard.ContentBlocked):
            client.generate("graphic violence, a severed head")
        with pytest.raises(InvalidRequest):
            client.generate("a fox", options={"qualty": "high"})


# -- images ------------------------------------------------------------------------------------


def test_save_checks_the_suffix_against_the_bytes(tmp_path: Path) -> None:
    image = Image(PNG + bytes(32), "image/png")
    with pytest.raises(ImageFormatError) as wrong:
        image.save(tmp_path / "x.jpg")
    assert wrong.value.detected == "image/png"
    assert wrong.value.suggested == str(tmp_path / "x.png")
    assert not (tmp_path / "x.jpg").exists()
    assert image.save(tmp_path / "x.PNG") == tmp_path / "x.PNG"
    jpeg = Image(b"\xff\xd8\xff\xe0" + bytes(16), "image/png")  # the claim is wrong
    assert jpeg.format == "image/jpeg"
    assert jpeg.save(tmp_path / "y") == tmp_path / "y.jpg"
    assert jpeg.save(tmp_path / "z.jpeg").exists()
    with pytest.raises(ImageFormatError):
        Image(b"<html>not an image</html>").save(tmp_path / "page.png")


def test_to_pil(tmp_path: Path) -> None:
    result = genguard.generate("a red fox", simulator="clean")
    picture = result.image.to_pil()
    assert picture.format == "PNG" and picture.size[0] > 0


@given(st.binary(max_size=64), st.text(max_size=20))
def test_target_path_takes_any_bytes_and_name(data: bytes, name: str) -> None:
    try:
        path = target_path(data, Path("out") / (name or "x"))
    except ImageFormatError as error:
        assert sniff(data) is None or error.suggested is not None
    except ValueError:  # a name pathlib itself refuses (e.g. "." as a suffix base)
        pass
    else:
        assert sniff(data) is not None and path.suffix


# -- reprs ------------------------------------------------------------------------------------


def test_reprs_are_short_and_never_hold_image_data() -> None:
    big = PNG + bytes(2_000_000)
    encoded = base64.b64encode(big).decode()
    part = Part(image=Image(big), raw_data=encoded, thought_signature="c2ln" * 100)
    result = GenerationResult(
        images=(Image(big),), generation_id="g", provider="gemini", model="m", parts=(part,)
    )
    text = repr(result)
    assert len(text) < 400 and encoded[:40] not in text
    assert "2000008 bytes" in text
    assert encoded[:40] not in repr(part) and "c2lnc2ln" not in repr(part)
    assert len(repr(GenerationRequest(prompt="p" * 100_000, images=(Image(big),)))) < 400


# -- typed fields and options -----------------------------------------------------------------


async def test_unknown_request_field_is_an_error_with_a_suggestion() -> None:
    async with Simulator("clean") as sim:
        async with Client(GeminiProvider("k", base_url=sim.base_url)) as client:
            with pytest.raises(InvalidRequest) as caught:
                await client.generate("a fox", sed=3)  # type: ignore[call-arg]
            assert "did you mean 'seed'" in str(caught.value) and caught.value.field == "sed"
            await client.generate("a fox", seed=3)
        assert len(sim.log) == 1  # the typo cost no request


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_unknown_provider_option_is_an_error_not_dropped(api: str) -> None:
    async with Simulator("clean") as sim:
        provider: Any = (
            OpenAIProvider("k", base_url=sim.base_url)
            if api == "openai"
            else GeminiProvider("k", base_url=sim.base_url)
        )
        async with Client(provider) as client:
            with pytest.raises(InvalidRequest) as caught:
                await client.generate("a fox", options={"qualty": "high"})
            assert caught.value.field == "options.qualty"
            if api == "openai":
                assert "did you mean 'quality'" in str(caught.value)
                await client.generate("a fox", options={"quality": "high"})
                assert sim.log[-1].body["quality"] == "high"
            await client.generate("a fox", options={"prompt_policy": False})
        assert len(sim.log) == (2 if api == "openai" else 1)


@given(st.dictionaries(st.text(max_size=12), st.integers(), max_size=4))
def test_make_request_never_raises_a_type_error(fields: dict[str, int]) -> None:
    try:
        request = make_request("a fox", fields)
    except InvalidRequest as error:
        assert error.field in fields
    except genguard.BadRequest:
        pass  # a known field with a bad value (n=0...): the request's own check
    else:
        assert request.prompt == "a fox"


@given(st.dictionaries(st.text(max_size=12), st.none(), max_size=4))
def test_check_options_names_the_unknown_one(options: dict[str, None]) -> None:
    known = frozenset({"style", "mask"})
    try:
        check_options("openai", options, known)
    except InvalidRequest as error:
        assert error.field.removeprefix("options.") in options
    else:
        assert set(options) <= known | {"prompt_policy", "service_tier", "quality"}


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [str, SecretStr])
async def test_keys_as_str_or_secretstr_are_never_shown(wrap: Any) -> None:
    secret = "sk-everyday-secret-0123456789abcdef"
    async with Simulator("clean") as sim:
        builder = (
            Pipeline.builder()
            .provider("openai", api_key=wrap(secret), base_url=sim.base_url)
            .deadline("60s")
            .timeout("30s")
        )
        profile = builder.build_config()
        async with builder.build() as client:
            result = await client.generate("a boat")
        provider = OpenAIProvider(wrap(secret), base_url=sim.base_url)
        sim.script("openai", [genguard.sim.replies.Reply.status(401)])
        async with Client(provider) as direct:
            with pytest.raises(AuthenticationError) as denied:
                await direct.generate("a boat")
    assert result.provider == "openai"
    for text in (repr(profile), str(profile), repr(client), repr(provider), str(denied.value)):
        assert secret not in text


def test_a_key_of_another_type_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError) as refused:
        GeminiProvider(12345)  # type: ignore[arg-type]
    assert "int" in str(refused.value) and "12345" not in str(refused.value)


# -- proxies ----------------------------------------------------------------------------------


async def test_the_builtin_transport_honours_proxy_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A forward proxy on loopback sees the call when HTTP_PROXY names it."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        seen.append(str(request.url))
        async with (
            ClientSession() as session,
            session.request(
                request.method, request.url, headers=request.headers, data=await request.read()
            ) as upstream,
        ):
            body = await upstream.read()
            return web.Response(
                status=upstream.status,
                body=body,
                content_type=upstream.content_type,
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        async with Simulator("clean") as sim:
            async with Client(OpenAIProvider("k", base_url=sim.base_url)) as client:
                result = await client.generate("a boat")
            assert result.image.format == "image/png"
            assert seen == [f"{sim.base_url}/v1/images/generations"]
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            async with Client(OpenAIProvider("k", base_url=sim.base_url)) as direct:
                await direct.generate("a boat")
            assert len(seen) == 1  # NO_PROXY: straight to the host
            transport = HttpTransport(trust_env=False)
            monkeypatch.delenv("NO_PROXY")
            assert transport.proxy_for(sim.base_url) is None
    finally:
        await runner.cleanup()


@given(st.text(max_size=40))
def test_proxy_for_takes_any_text(url: str) -> None:
    proxy = HttpTransport().proxy_for(url)
    assert proxy is None or isinstance(proxy, str)
