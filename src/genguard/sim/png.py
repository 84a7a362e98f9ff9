"""Real, valid PNGs without Pillow: small, deterministic, and cached.

The simulator is benchmarked at thousands of requests per second, so an image is
encoded once per (width, height, colour) and reused; choosing the colour costs a
hash of the prompt and seed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import zlib
from functools import lru_cache

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Sixteen clearly different colours; a prompt+seed hash picks one.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
    (0, 0, 128),
)

# Gemini imageSize → pixels of the long side (the model's "1K" is about 1024 px).
IMAGE_SIZES = {"512": 512, "512PX": 512, "1K": 1024, "2K": 2048, "4K": 4096}


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """An 8-bit RGB PNG: a vertical gradient from ``rgb`` to a darker shade."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be >= 1")
    r, g, b = rgb
    rows = []
    for y in range(height):
        k = 1.0 - 0.5 * y / max(1, height - 1)
        pixel = bytes((int(r * k), int(g * k), int(b * k)))
        rows.append(b"\x00" + pixel * width)
    raw = b"".join(rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=1024)
def cached_png(width: int, height: int, colour: int) -> tuple[bytes, str]:
    """PNG bytes and their standard base64, encoded once per (w, h, colour)."""
    data = encode_png(width, height, PALETTE[colour % len(PALETTE)])
    return data, base64.b64encode(data).decode("ascii")


def colour_for(prompt: str, seed: int, index: int = 0) -> int:
    """A palette index that depends only on prompt, seed and image index."""
    digest = hashlib.blake2b(f"{seed}\x00{index}\x00{prompt}".encode(), digest_size=2).digest()
    return digest[0] % len(PALETTE)


def scale(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Shrink (w, h) so the long side is at most ``max_side``, keeping the ratio."""
    width, height = max(1, width), max(1, height)
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    factor = max_side / long_side
    return max(1, round(width * factor)), max(1, round(height * factor))


def _digits(text: str) -> bool:
    """ASCII digits only: ``"²".isdigit()`` is True, and ``int("²")`` raises."""
    return text.isascii() and text.isdigit()


def parse_openai_size(size: str | None) -> tuple[int, int] | None:
    """OpenAI ``size`` ("1536x1024", "auto", None) → (w, h); None if malformed."""
    if size is None or size == "auto":
        return 1024, 1024
    w, sep, h = size.partition("x")
    if not sep or not _digits(w) or not _digits(h):
        return None
    width, height = int(w), int(h)
    if not (1 <= width <= 8192 and 1 <= height <= 8192):
        return None
    return width, height


def parse_gemini_size(aspect_ratio: str | None, image_size: str | None) -> tuple[int, int] | None:
    """Gemini ``imageConfig`` → (w, h); None if either field is malformed."""
    long_side = 1024
    if image_size is not None:
        found = IMAGE_SIZES.get(image_size.upper())
        if found is None:
            return None
        long_side = found
    if aspect_ratio is None:
        return long_side, long_side
    a, sep, b = aspect_ratio.partition(":")
    if not sep or not _digits(a) or not _digits(b) or int(a) < 1 or int(b) < 1:
        return None
    rw, rh = int(a), int(b)
    if rw >= rh:
        return long_side, max(1, round(long_side * rh / rw))
    return max(1, round(long_side * rw / rh)), long_side


_TOKEN = re.compile(rb"GGSIMPNG-(\d+)-(\d+)-(\d+)-END")


def png_token(width: int, height: int, colour: int) -> str:
    """A placeholder for an image's base64 in a response body.

    JSON-encoding a body that holds kilobytes of base64 costs more than the rest
    of the request; encoding the placeholder and splicing the cached base64 in
    afterwards (``expand_tokens``) keeps a handler in the tens of microseconds.
    """
    return f"GGSIMPNG-{width}-{height}-{colour}-END"


def expand_tokens(payload: bytes) -> bytes:
    """Replace every ``png_token`` in an encoded body with the PNG's base64."""
    return _TOKEN.sub(
        lambda m: cached_png(int(m[1]), int(m[2]), int(m[3]))[1].encode("ascii"), payload
    )
