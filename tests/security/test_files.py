"""Item 1 (and the file half of item 8): files named by untrusted text are read only
inside a root, only if regular, only up to a size cap.

A saved conversation names its image files; a policy file names its secret files.
Neither may read ``/etc/passwd``, ``/proc/self/environ`` (the process's API keys),
``/dev/zero`` or a FIFO, and nothing read may reach the provider.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from genguard import Client
from genguard.config.secrets import Secret, resolve_secret
from genguard.conversation import Conversation
from genguard.errors import ConfigError, InvalidRequest
from genguard.files import FileRefused, read_bounded
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.static import TINY_PNG
from genguard.sim import Simulator


def _document(name: str) -> str:
    part = {"image": {"file": name, "mime_type": "image/png"}}
    turns = [
        {"role": "user", "parts": [{"text": "a mug"}]},
        {"role": "model", "parts": [part]},
    ]
    return json.dumps({"version": 1, "turns": turns})


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "images"
    directory.mkdir()
    (directory / "ok.png").write_bytes(TINY_PNG)
    (tmp_path / "outside.txt").write_text("SECRET-OUTSIDE-THE-ROOT")
    os.symlink(tmp_path / "outside.txt", directory / "escape.png")
    os.symlink("/dev/zero", directory / "zero.png")
    os.mkfifo(directory / "fifo.png")
    return directory


HOSTILE_NAMES = [
    "/etc/passwd",
    "../../../../etc/passwd",
    "/proc/self/environ",
    "../outside.txt",
    "escape.png",  # a symlink leading out of the root
    "zero.png",  # a symlink to /dev/zero (and /dev is outside the root anyway)
    "fifo.png",  # a FIFO: opening it would block the event loop for good
    "/dev/zero",
    ".",
    "",
    "nul\x00byte",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_a_conversation_file_cannot_leave_image_dir_and_nothing_is_sent(
    image_dir: Path, name: str, api: str
) -> None:
    async with Simulator() as sim:
        provider = (
            GeminiProvider("k", base_url=sim.base_url)
            if api == "gemini"
            else OpenAIProvider("k", base_url=sim.base_url)
        )
        async with Client(provider) as client:
            with pytest.raises(InvalidRequest, match="refused") as info:
                Conversation.from_json(client, _document(name), image_dir=image_dir)
            assert "SECRET-OUTSIDE" not in str(info.value)
        assert sim.log == []


async def test_a_conversation_file_inside_image_dir_is_sent_over_http(image_dir: Path) -> None:
    async with (
        Simulator(strict_signatures=False) as sim,
        Client(GeminiProvider("k", base_url=sim.base_url)) as client,
    ):
        conv = Conversation.from_json(client, _document("ok.png"), image_dir=image_dir)
        await conv.send("make it blue")
    sent = sim.log[0].body["contents"][1]["parts"][0]["inlineData"]["data"]
    assert base64.b64decode(sent) == TINY_PNG


async def test_a_conversation_file_over_the_cap_is_refused(image_dir: Path) -> None:
    (image_dir / "big.png").write_bytes(b"\x89PNG" + b"\0" * 5000)
    async with Client(GeminiProvider("k", base_url="http://127.0.0.1:9")) as client:
        with pytest.raises(InvalidRequest, match="larger than 1000 bytes"):
            Conversation.from_json(
                client, _document("big.png"), image_dir=image_dir, max_file_bytes=1000
            )


def test_read_bounded_reads_no_more_than_the_cap_of_a_file_that_claims_size_zero() -> None:
    # /proc files report st_size 0: the cap must hold on the bytes actually read.
    with pytest.raises(FileRefused, match="larger than 16 bytes"):
        read_bounded("/proc/self", "status", max_bytes=16)
    assert read_bounded("/proc/self", "status", max_bytes=1 << 20).startswith(b"Name:")


@pytest.mark.parametrize("name", ["zero.png", "fifo.png", "escape.png", "../outside.txt"])
def test_a_secret_file_is_a_bounded_regular_file_inside_its_directory(
    image_dir: Path, name: str
) -> None:
    with pytest.raises(ConfigError, match="cannot read secret file") as info:
        resolve_secret({"file": name}, {}, "profiles.p.provider.api_key", base=image_dir)
    assert info.value.path == "profiles.p.provider.api_key"


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null", "/proc/self/environ"])
def test_an_absolute_secret_file_must_be_a_small_regular_file(target: str) -> None:
    with pytest.raises(ConfigError, match=r"cannot read secret file|is empty|printable"):
        Secret.from_file(target, "p.api_key")


def test_a_huge_secret_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"k" * (1 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        Secret.from_file("key", "p.api_key", base=tmp_path)


def test_a_mounted_secret_behind_symlinks_inside_its_directory_is_read(tmp_path: Path) -> None:
    # Kubernetes mounts secrets as key -> ..data/key -> ..2026_01_01/key, all inside.
    real = tmp_path / "..2026_01_01"
    real.mkdir()
    (real / "key").write_text("the-key\n")
    os.symlink(real.name, tmp_path / "..data")
    os.symlink("..data/key", tmp_path / "key")
    assert Secret.from_file(str(tmp_path / "key"), "p").get() == "the-key"
