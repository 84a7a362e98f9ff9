"""Test support for the providers: the reference fixtures, scripted on the simulator.

The provider tests run against the embedded simulator with ``capture=True``: a fixture
(``{"status","headers","body"}``) is scripted as ``Reply.fixture`` and served verbatim
over HTTP, and ``sim.captured`` holds every request exactly as the provider sent it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import support
from genguard.model import Call, GenerationRequest
from genguard.sim import Reply, Simulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"

#: The 1x1 PNG used throughout the reference fixtures.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PNG = base64.b64decode(PNG_B64)
GEMINI_KEY = "AIzaSyTEST-not-a-real-key-0123456789abcd"
OPENAI_KEY = "sk-test-not-a-real-key-0123456789abcdef"


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


#: Where the dall-e fixture's image URL points on the simulator (its download route).
FOX_PATH = "/files/fox.png"


def script_fixture(sim: Simulator, name: str) -> dict[str, Any]:
    """Script fixture ``name`` as the simulator's next image-API answer; return it.

    The dall-e fixture's image URL is pointed at the simulator, whose next download
    answer is the fixtures' 1x1 PNG.
    """
    data = load_fixture(name)
    if name == "openai_200_dalle3_url.json":
        body = data["body"]
        url = f"{sim.base_url}{FOX_PATH}"
        body = {**body, "data": [{**body["data"][0], "url": url}]}
        sim.script("*", [Reply.fixture({**data, "body": body})])
        sim.script("files", [Reply.raw(200, PNG, {"content-type": "image/png"})])
    else:
        sim.script("*", [Reply.fixture(data)])
    return data


def response_fixture_names() -> list[str]:
    """Every response fixture (``{"status","headers","body"}``), by file name."""
    names = []
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and {"status", "headers", "body"} <= data.keys():
            names.append(path.name)
    return names


def make_call(request: GenerationRequest, *, provider: str, model: str) -> Call:
    return support.make_call(
        request=request, provider=provider, model=model, generation_id="gen-test"
    )
