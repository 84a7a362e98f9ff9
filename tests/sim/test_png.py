"""PNG encoding and size arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from genguard.sim.png import (
    PALETTE,
    cached_png,
    colour_for,
    encode_png,
    parse_gemini_size,
    parse_openai_size,
    scale,
)

from .pngcheck import read_png


@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from(PALETTE))
def test_encoded_png_is_valid_and_sized(width: int, height: int, rgb: tuple[int, int, int]) -> None:
    w, h, raw = read_png(encode_png(width, height, rgb))
    assert (w, h) == (width, height)
    assert raw[0] == 0 and tuple(raw[1:4]) == rgb  # first pixel is the colour itself


def test_cache_returns_identical_bytes_and_base64() -> None:
    import base64

    a = cached_png(32, 16, 3)
    b = cached_png(32, 16, 3)
    assert a is b
    assert base64.b64decode(a[1]) == a[0]


def test_colour_depends_on_prompt_and_seed_only() -> None:
    assert colour_for("fox", 1) == colour_for("fox", 1)
    colours = {colour_for(f"prompt {i}", 0) for i in range(200)}
    assert len(colours) > 8  # the palette is actually used
    assert {colour_for("fox", s) for s in range(50)} != {colour_for("fox", 0)}


@given(st.integers(1, 10_000), st.integers(1, 10_000), st.integers(1, 512))
def test_scale_bounds_long_side_and_keeps_ratio(w: int, h: int, side: int) -> None:
    sw, sh = scale(w, h, side)
    assert sw >= 1 and sh >= 1 and max(sw, sh) <= max(side, 1)
    if max(w, h) <= side:
        assert (sw, sh) == (w, h)
    elif min(sw, sh) > 4:
        assert abs(sw / sh - w / h) / (w / h) < 0.25


@given(st.one_of(st.none(), st.text(max_size=20)))
def test_parse_openai_size_never_raises(value: str | None) -> None:
    result = parse_openai_size(value)
    assert result is None or (1 <= result[0] <= 8192 and 1 <= result[1] <= 8192)


def test_parse_openai_size_values() -> None:
    assert parse_openai_size("1536x1024") == (1536, 1024)
    assert parse_openai_size("auto") == (1024, 1024)
    assert parse_openai_size(None) == (1024, 1024)
    for bad in ("1536", "x", "10x", "-1x5", "0x10", "99999x1", "1.5x2"):
        assert parse_openai_size(bad) is None


@given(st.one_of(st.none(), st.text(max_size=8)), st.one_of(st.none(), st.text(max_size=5)))
def test_parse_gemini_size_never_raises(aspect: str | None, size: str | None) -> None:
    result = parse_gemini_size(aspect, size)
    assert result is None or (result[0] >= 1 and result[1] >= 1)


def test_parse_gemini_size_values() -> None:
    assert parse_gemini_size(None, None) == (1024, 1024)
    assert parse_gemini_size("16:9", None) == (1024, 576)
    assert parse_gemini_size("9:16", "2K") == (1152, 2048)
    assert parse_gemini_size("4:3", "1k") == (1024, 768)
    assert parse_gemini_size("0:1", None) is None
    assert parse_gemini_size("wide", None) is None
    assert parse_gemini_size("1:1", "3K") is None
