"""Multi-turn conversations over real HTTP against the simulator's strict signature mode."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from genguard import Client
from genguard.conversation import Conversation, trim_history
from genguard.errors import BadRequest, ContentBlocked, InvalidRequest
from genguard.model import Image, Part, Turn
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.static import TINY_PNG
from genguard.sim import Reply, Simulator

GEMINI3 = "gemini-3-pro-image-preview"


def _gemini(sim: Simulator, model: str = GEMINI3) -> Client:
    return Client(GeminiProvider("conv-key", base_url=sim.base_url, model=model))


def _bodies(sim: Simulator, api: str) -> list[dict[str, Any]]:
    return [r.body for r in sim.log if r.api == api and r.status == 200]


async def test_gemini_three_turns_echo_history_and_signatures_byte_for_byte() -> None:
    async with Simulator(strict_signatures=True) as sim, _gemini(sim) as client:
        conv = client.conversation()
        first = await conv.send("a mug on a wooden desk")
        second = await conv.send("make the light warmer")
        reference = Image(TINY_PNG, "image/png")
        await conv.send("now from closer", images=[reference])
        assert first.thought_signatures, "a Gemini 3 image model signs its parts"

        bodies = _bodies(sim, "gemini")
        assert len(bodies) == 3
        roles = [[c["role"] for c in body["contents"]] for body in bodies]
        assert roles == [
            ["user"],
            ["user", "model", "user"],
            ["user", "model", "user", "model", "user"],
        ]
        third = bodies[2]["contents"]
        # The model turns are sent back exactly as the responses carried them.
        for sent, result in ((third[1], first), (third[3], second)):
            assert len(sent["parts"]) == len(result.parts)
            for wire, part in zip(sent["parts"], result.parts, strict=True):
                assert wire.get("thoughtSignature") == part.thought_signature
                if part.image is not None:
                    assert wire["inlineData"]["data"] == part.raw_data
                if part.text is not None:
                    assert wire["text"] == part.text
        # The new user turn: the prompt, then the added image.
        assert third[4]["parts"][0] == {"text": "now from closer"}
        added = third[4]["parts"][1]["inlineData"]
        assert base64.b64decode(added["data"]) == TINY_PNG
        assert [t.role for t in conv.turns] == ["user", "model"] * 3


async def test_strict_mode_rejects_a_continuation_without_signatures() -> None:
    async with Simulator(strict_signatures=True) as sim, _gemini(sim) as client:
        conv = client.conversation()
        await conv.send("a mug")
        stripped = tuple(
            Turn(t.role, tuple(Part(p.text, p.image, p.thought, None, p.raw_data) for p in t.parts))
            for t in conv.turns
        )
        forged = Conversation(client, turns=stripped)
        with pytest.raises(BadRequest, match="thought_signature"):
            await forged.send("make it blue")
        assert forged.turns == stripped  # a failed turn leaves history unchanged


async def test_lenient_mode_accepts_a_continuation_without_signatures() -> None:
    async with Simulator(strict_signatures=False) as sim, _gemini(sim) as client:
        conv = client.conversation()
        await conv.send("a mug")
        stripped = tuple(
            Turn(t.role, tuple(Part(p.text, p.image, p.thought, None, p.raw_data) for p in t.parts))
            for t in conv.turns
        )
        result = await Conversation(client, turns=stripped).send("make it blue")
        assert result.images


async def test_openai_refinements_edit_the_latest_image() -> None:
    async with Simulator() as sim:
        provider = OpenAIProvider("conv-key", base_url=sim.base_url)
        async with Client(provider) as client:
            conv = client.conversation()
            first = await conv.send("a mug")
            second = await conv.send("warmer light")
            await conv.send("closer")
    paths = [r.path for r in sim.log if r.api == "openai"]
    assert paths == ["/v1/images/generations", "/v1/images/edits", "/v1/images/edits"]
    edits = [r.body for r in sim.log if r.path == "/v1/images/edits"]
    assert [e["fields"]["prompt"] for e in edits] == ["warmer light", "closer"]
    # One image part per edit: the previous result, sent whole.
    for body, previous in zip(edits, (first, second), strict=True):
        files = body["files"]
        assert len(files) == 1
        assert files[0]["bytes"] == len(previous.image.data)
    assert len(conv.turns) == 6


async def test_blocked_second_turn_leaves_history_as_it_was() -> None:
    fixture = Path(__file__).parent / "fixtures" / "reference" / "gemini_200_image_safety.json"
    async with Simulator() as sim, _gemini(sim, "gemini-2.5-flash-image") as client:
        conv = client.conversation()
        await conv.send("a mug")
        before = conv.turns
        sim.script("gemini", [Reply.fixture(fixture)])
        with pytest.raises(ContentBlocked) as info:
            await conv.send("something the filter refuses")
        assert info.value.stage == "output"
        assert conv.turns == before
        await conv.send("make it blue")  # the conversation goes on from where it was
        assert len(conv.turns) == 4


async def test_persistence_round_trip_continues_in_a_new_client(tmp_path: Path) -> None:
    async with Simulator(strict_signatures=True) as sim:
        async with _gemini(sim) as client:
            conv = client.conversation(max_turns=10)
            await conv.send("a mug")
            await conv.send("warmer")
            saved_files = conv.to_json(image_dir=tmp_path / "images")
            saved_inline = conv.to_json()
        assert json.loads(saved_files)["version"] == 1
        assert any((tmp_path / "images").iterdir())
        for text, image_dir in ((saved_files, tmp_path / "images"), (saved_inline, None)):
            async with _gemini(sim) as fresh:
                resumed = Conversation.from_json(fresh, text, image_dir=image_dir)
                assert resumed.turns == conv.turns  # parts, raw base64 and signatures intact
                result = await resumed.send("closer")  # strict mode accepts the echoed history
                assert result.images and len(resumed.turns) == 6


async def test_sends_are_serialised_within_a_conversation() -> None:
    async with Simulator() as sim, _gemini(sim, "gemini-2.5-flash-image") as client:
        conv = client.conversation()
        await asyncio.gather(conv.send("one"), conv.send("two"))
        bodies = _bodies(sim, "gemini")
        # The second send saw the first one's completed turns.
        assert [len(b["contents"]) for b in bodies] == [1, 3]
        other = client.conversation()
        await other.send("independent")
        assert len(_bodies(sim, "gemini")[-1]["contents"]) == 1


def _turn(role: str, text: str, image_bytes: int = 0) -> Turn:
    parts = [Part(text=text)]
    if image_bytes:
        parts.append(Part(image=Image(b"x" * image_bytes)))
    return Turn(role, tuple(parts))  # type: ignore[arg-type]


def test_trim_keeps_first_prompt_and_latest_image_and_reports() -> None:
    turns = [_turn("user", "first")]
    turns += [
        _turn("model", f"m{i}", 30) if i % 2 == 0 else _turn("user", f"u{i}") for i in range(9)
    ]
    kept, report = trim_history(turns, max_turns=4, max_bytes=None)
    assert len(kept) <= 4
    assert kept[0] == turns[0]
    latest_image = max(i for i, t in enumerate(turns) if t.role == "model")
    assert turns[latest_image] in kept
    assert report.dropped_turns == len(turns) - len(kept)
    assert report.dropped_bytes > 0


def test_trim_by_bytes_drops_the_first_images_last() -> None:
    turns = [
        _turn("user", "first", 1000),
        _turn("model", "m", 10),
        _turn("user", "u"),
        _turn("model", "m2", 10),
    ]
    kept, report = trim_history(turns, max_turns=None, max_bytes=200)
    assert kept[0].parts == (Part(text="first"),)
    assert kept[-1] == turns[-1]
    assert report.dropped_bytes >= 1000


def test_trim_within_limits_changes_nothing() -> None:
    turns = [_turn("user", "a"), _turn("model", "b", 5)]
    assert trim_history(turns, 10, 10_000) == (tuple(turns), trim_history([], 1, 1)[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "must be an object"),
        ('{"version": 2, "turns": []}', "version 2"),
        ('{"version": 1, "turns": {}}', "'turns' must be a list"),
        ('{"version": 1, "turns": [{"role": "system", "parts": []}]}', "role user or model"),
        (
            '{"version": 1, "turns": [{"role": "user", "parts": [{"image": {"data": "!!"}}]}]}',
            "base64",
        ),
        (
            '{"version": 1, "turns": [{"role": "user", "parts": [{"image": {"file": "a.png"}}]}]}',
            "image_dir",
        ),
    ],
)
def test_from_json_rejects_bad_documents_clearly(text: str, message: str) -> None:
    client = Client(OpenAIProvider("k"))
    with pytest.raises(InvalidRequest, match=message):
        Conversation.from_json(client, text)
