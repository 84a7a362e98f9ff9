"""The simulator's request capture, verbatim replies and scripted image downloads."""

from __future__ import annotations

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from genguard.sim import Reply, Simulator
from genguard.sim.capture import Captured, FormPart

GEMINI = "/v1beta/models/gemini-2.5-flash-image:generateContent"
TEXT = 'text/plain; charset="utf-8"'  # what aiohttp labels a text field
BODY = {"contents": [{"role": "user", "parts": [{"text": "a fox"}]}]}


async def test_capture_keeps_each_request_as_sent_even_one_the_simulator_rejects() -> None:
    async with Simulator(capture=True) as sim, aiohttp.ClientSession() as http:
        async with http.post(
            sim.base_url + GEMINI + "?alt=json", json=BODY, headers={"x-goog-api-key": "k1"}
        ) as ok:
            assert ok.status == 200
        async with http.post(sim.base_url + GEMINI, data=b"{not json") as rejected:
            assert rejected.status == 403  # no key: refused before parsing, still captured
    first, second = sim.captured
    assert (first.method, first.path) == ("POST", GEMINI + "?alt=json")
    assert first.headers["x-goog-api-key"] == "k1" and first.json() == BODY
    assert second.body == b"{not json" and "x-goog-api-key" not in second.headers
    assert len(sim.captured) == 2 and sim.requests == 2


async def test_without_capture_nothing_is_kept() -> None:
    async with (
        Simulator() as sim,
        aiohttp.ClientSession() as http,
        http.post(sim.base_url + GEMINI, json=BODY, headers={"x-goog-api-key": "k"}) as resp,
    ):
        assert resp.status == 200
    assert len(sim.captured) == 0 and sim.requests == 1


async def test_a_captured_multipart_edit_is_still_parsed_by_the_simulator() -> None:
    form = aiohttp.FormData()
    form.add_field("model", "gpt-image-1")
    form.add_field("prompt", "make it blue")
    form.add_field(
        "image", b"\x89PNG\r\n\x1a\n\x00\xff", filename="a.png", content_type="image/png"
    )
    async with (
        Simulator(capture=True) as sim,
        aiohttp.ClientSession() as http,
        http.post(
            sim.base_url + "/v1/images/edits", data=form, headers={"Authorization": "Bearer k"}
        ) as resp,
    ):
        assert resp.status == 200 and (await resp.json())["data"]
    (sent,) = sim.captured
    assert sent.form() == [
        FormPart("model", None, TEXT, b"gpt-image-1"),
        FormPart("prompt", None, TEXT, b"make it blue"),
        FormPart("image", "a.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\xff"),
    ]
    (record,) = sim.log  # the simulator read the same body after the capture did
    assert record.prompt == "make it blue" and record.body["files"][0]["bytes"] == 10


@pytest.mark.parametrize(
    ("body", "headers", "sent", "content_type"),
    [
        (b"\x00\x01raw", {"content-type": "image/webp"}, b"\x00\x01raw", "image/webp"),
        ("plain words", None, b"plain words", "text/plain"),
        ({"a": [1]}, {"content-type": "application/json"}, b'{"a":[1]}', "application/json"),
        (b"", None, b"", None),
    ],
)
async def test_raw_replies_go_out_verbatim(
    body: object, headers: dict[str, str] | None, sent: bytes, content_type: str | None
) -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        sim.script("*", [Reply.raw(418, body, headers)])
        async with http.post(
            sim.base_url + GEMINI, json=BODY, headers={"x-goog-api-key": "k"}
        ) as resp:
            assert resp.status == 418 and await resp.read() == sent
            if content_type is not None:
                assert resp.headers["Content-Type"].startswith(content_type)
            assert "x-goog-api-key" not in resp.headers
        async with http.post(
            sim.base_url + GEMINI, json=BODY, headers={"x-goog-api-key": "k"}
        ) as after:
            assert after.status == 200  # used once, then the profile answers


def test_raw_refuses_a_status_no_server_sends() -> None:
    with pytest.raises(ValueError, match=r"100\.\.599"):
        Reply.raw(99)


async def test_image_downloads_can_be_scripted_then_fall_back_to_generated_pngs() -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        sim.script(
            "files",
            [Reply.raw(200, b"RIFFwebp", {"content-type": "image/webp"}), Reply.status(404)],
        )
        assert sim.pending_scripts("files") == 2
        async with http.get(sim.base_url + "/files/anything.png") as first:
            assert first.status == 200 and await first.read() == b"RIFFwebp"
            assert first.headers["Content-Type"] == "image/webp"
        async with http.get(sim.base_url + "/files/anything.png") as second:
            assert second.status == 404
        async with http.get(sim.base_url + "/files/img-2x2-7.png") as generated:
            assert generated.status == 200 and (await generated.read())[:4] == b"\x89PNG"
        sim.script("files", [Reply.reset()])
        async with http.get(sim.base_url + "/files/img-2x2-7.png") as unsupported:
            assert unsupported.status == 500  # a reply that cannot answer a download


async def test_wait_returns_a_request_once_it_arrives() -> None:
    async with Simulator(capture=True) as sim, aiohttp.ClientSession() as http:
        waiter = sim.captured.wait(1)
        async with http.get(sim.base_url + "/files/img-1x1-1.png"):
            pass
        assert (await waiter).path == "/files/img-1x1-1.png"


def _captured(content_type: str, body: bytes) -> Captured:
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": content_type}))
    return Captured("POST", "/", headers, body)


BOUNDARY = "genguard-boundary-7f3a9c"


def _multipart(parts: list[tuple[str, bytes, bool]]) -> bytes:
    out = b""
    for name, data, is_file in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{name}.bin"' if is_file else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
            st.binary(max_size=64).filter(lambda b: BOUNDARY.encode() not in b),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_form_parts_round_trip_whatever_the_bytes(parts: list[tuple[str, bytes, bool]]) -> None:
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    got = _captured(content_type, _multipart(parts)).form()
    assert [(p.name, p.data, p.filename is not None) for p in got] == parts


def test_form_of_a_non_multipart_body_is_empty() -> None:
    assert _captured("application/json", b"{}").form() == []
