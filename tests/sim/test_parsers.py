"""Request parsers and wire helpers: any input gives a request or a typed 400."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.sim.hints import DATE_FORMS, format_http_date, parse_duration
from genguard.sim.log import RequestRecord, max_in_window
from genguard.sim.requests import (
    RequestError,
    SimRequest,
    parse_gemini,
    parse_moderation,
    parse_openai_generation,
)
from genguard.sim.wire import format_duration, format_go_duration

KEYS = st.sampled_from(
    [
        "contents",
        "parts",
        "role",
        "text",
        "inlineData",
        "inline_data",
        "data",
        "thought",
        "generationConfig",
        "generation_config",
        "imageConfig",
        "image_config",
        "aspectRatio",
        "imageSize",
        "responseModalities",
        "seed",
        "prompt",
        "model",
        "n",
        "size",
        "input",
        "type",
        "quality",
        "response_format",
    ]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 20)
    | st.text(max_size=6)
    | st.sampled_from(
        ["user", "model", "IMAGE", "16:9", "2K", "1024x1024", "auto", "text", "image_url"]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def _raw(value: Any) -> bytes:
    return json.dumps(value).encode()


@settings(max_examples=300)
@given(JSON | st.binary(max_size=20).map(lambda b: b))
def test_parsers_return_a_request_or_a_typed_400(value: Any) -> None:
    raw = value if isinstance(value, bytes) else _raw(value)
    parsers: list[Callable[[], SimRequest]] = [
        lambda: parse_gemini("/p", "gemini-3-pro-image-preview", raw, "k"),
        lambda: parse_openai_generation("/p", raw, "k"),
        lambda: parse_moderation("/p", raw, "k"),
    ]
    for parse in parsers:
        try:
            req = parse()
        except RequestError as exc:
            assert exc.status == 400 and "error" in exc.body
        else:
            assert isinstance(req.prompt, str) and req.width >= 1 and req.height >= 1


@given(st.dictionaries(KEYS, JSON, max_size=5))
def test_gemini_parser_on_wellformed_contents(config: dict[str, Any]) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config}
    try:
        req = parse_gemini("/p", "m", _raw(body), None)
    except RequestError as exc:
        assert exc.status == 400
    else:
        assert req.prompt == "hi"


@given(st.floats(0, 10_000, allow_nan=False))
def test_format_duration_round_trips_upward(seconds: float) -> None:
    text = format_duration(seconds)
    assert re.fullmatch(r"\d+(\.\d{3})?s", text)
    parsed = parse_duration(text)
    assert parsed is not None and seconds - 1e-6 <= parsed <= seconds + 0.001 + 1e-6


@given(st.text(max_size=15))
def test_parse_duration_never_raises(text: str) -> None:
    result = parse_duration(text)
    assert result is None or result >= 0


@given(st.floats(0, 100_000, allow_nan=False))
def test_go_duration_is_parseable_and_not_short(seconds: float) -> None:
    text = format_go_duration(seconds)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|m|s)", text):
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    assert re.fullmatch(r"(\d+ms|\d+(\.\d+)?s|\d+m\d+(\.\d+)?s)", text)
    assert seconds - 1e-6 <= total <= seconds + 0.001 + 1e-6


@given(st.integers(0, 4_102_444_800), st.sampled_from(DATE_FORMS))
def test_http_dates_parse_back(epoch: int, form: str) -> None:
    text = format_http_date(epoch, form)  # type: ignore[arg-type]
    parsed = email.utils.parsedate_tz(text)
    assert parsed is not None
    gm = time.gmtime(epoch)
    if form == "rfc850":  # two-digit year: every other field must round-trip
        assert parsed[0] % 100 == gm.tm_year % 100
        assert parsed[1:6] == (gm.tm_mon, gm.tm_mday, gm.tm_hour, gm.tm_min, gm.tm_sec)
    else:
        assert email.utils.mktime_tz(parsed) == epoch


def _records(times: list[float]) -> list[RequestRecord]:
    return [RequestRecord(t, "gemini", "/", None, None, 200, None, False) for t in times]


@given(st.lists(st.floats(0, 10, allow_nan=False), max_size=40), st.floats(0.01, 3))
def test_max_in_window_matches_brute_force(times: list[float], window: float) -> None:
    expected = max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)
    assert max_in_window(_records(times), window) == expected


def test_max_in_window_filters() -> None:
    records = [
        RequestRecord(0.0, "gemini", "/", None, None, 200, None, False),
        RequestRecord(0.1, "openai", "/", None, None, 200, None, False),
        RequestRecord(0.2, "gemini", "/", None, None, 429, None, False),
    ]
    assert max_in_window(records, 1.0) == 3
    assert max_in_window(records, 1.0, api="gemini") == 2
    assert max_in_window(records, 1.0, statuses=[200]) == 2
    assert max_in_window(records, 0.15) == 2
