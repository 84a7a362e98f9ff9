"""The SSE parser: the WHATWG grammar, any chunking, any cut, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.errors import MalformedStreamEvent
from genguard.providers.sse import SSEEvent, SSEParser, encode_event

# Field values never hold a line break; data may (it becomes several data lines).
_token = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=12,
)
_data = st.text(
    alphabet=st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), max_size=40
)
_events = st.lists(
    st.tuples(st.one_of(st.none(), _token.filter(lambda t: t.strip() == t and t)), _data),
    max_size=8,
)
_eol = st.sampled_from(["\n", "\r", "\r\n"])


def _wire(events: list[tuple[str | None, str]], eol: str) -> bytes:
    out = []
    for name, data in events:
        lines = [] if name is None else [f"event: {name}"]
        lines += [f"data: {line}" for line in data.split("\n")]
        out.append(eol.join(lines) + eol + eol)
    return "".join(out).encode("utf-8")


def _parse(chunks: list[bytes]) -> tuple[list[SSEEvent], SSEParser]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events, parser


def _split(payload: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(payload) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(payload[last:point])
        last = point
    pieces.append(payload[last:])
    return pieces


@given(_events, _eol, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
@settings(max_examples=300, deadline=None)
def test_round_trip_under_any_chunking(
    events: list[tuple[str | None, str]], eol: str, cuts: list[int]
) -> None:
    payload = _wire(events, eol)
    parsed, parser = _parse(_split(payload, cuts))
    assert [(e.event, e.data) for e in parsed] == [(n or "message", d) for n, d in events]
    assert not parser.in_event


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=10))
@settings(max_examples=400, deadline=None)
def test_arbitrary_bytes_parse_the_same_however_they_are_split(
    payload: bytes, cuts: list[int]
) -> None:
    whole, whole_parser = _parse([payload])
    pieces, piece_parser = _parse(_split(payload, cuts))
    assert pieces == whole
    assert piece_parser.in_event == whole_parser.in_event


@given(_events.filter(bool), _eol, st.integers(min_value=0, max_value=10_000))
@settings(max_examples=300, deadline=None)
def test_a_cut_stream_yields_a_prefix_and_knows_it_stopped_mid_event(
    events: list[tuple[str | None, str]], eol: str, cut: int
) -> None:
    payload = _wire(events, eol)
    ends = []  # where each event's bytes end
    size = 0
    for name, data in events:
        size += len(_wire([(name, data)], eol))
        ends.append(size)
    cut %= len(payload) + 1
    parsed, parser = _parse([payload[:cut]])
    expected = [(n or "message", d) for n, d in events]
    # An event is dispatched by its blank line; with CRLF the final LF is not needed.
    slack = 1 if eol == "\r\n" else 0
    done = sum(1 for end in ends if cut >= end - slack)
    assert [(e.event, e.data) for e in parsed] == expected[:done]
    between = cut == 0 or any(end - slack <= cut <= end for end in ends)
    assert parser.in_event == (not between)


def test_grammar_details() -> None:
    parser = SSEParser()
    text = (
        "\ufeff: a comment\n"
        "retry: 2500\n"
        "id: 7\n"
        "event: partial\n"
        "data:no space\n"
        "data:  two spaces\n"
        "unknown: ignored\n"
        "\n"
        "event: empty\n"
        "\n"  # no data: not dispatched
        "data\n"
        "\n"
    )
    events = parser.feed(text.encode())
    assert events == [
        SSEEvent("partial", "no space\n two spaces", "7", 2500),
        SSEEvent("message", "", "7", 2500),
    ]
    assert parser.events == 2 and parser.last_id == "7"


def test_crlf_split_across_reads_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == [SSEEvent("message", "a")]
    assert parser.feed(b"\ndata: b\r\n\r\n") == [SSEEvent("message", "b")]


def test_multibyte_character_split_across_reads() -> None:
    payload = "data: café ☕\n\n".encode()
    parser = SSEParser()
    events = [e for i in range(len(payload)) for e in parser.feed(payload[i : i + 1])]
    assert events == [SSEEvent("message", "café ☕")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert SSEParser().feed(b"data: \xff\xfe\n\n") == [SSEEvent("message", "\ufffd\ufffd")]


@pytest.mark.parametrize(
    "payload",
    [b"data: " + b"x" * 200 + b"\n\n", b"data: " + b"x" * 200, b"data: x\n" * 60],
)
def test_an_event_larger_than_the_bound_is_refused(payload: bytes) -> None:
    parser = SSEParser(max_event_bytes=100)
    with pytest.raises(MalformedStreamEvent) as caught:
        for i in range(0, len(payload), 7):
            parser.feed(payload[i : i + 7])
    assert caught.value.reason == "too_large"


def test_encode_event_round_trips() -> None:
    wire = encode_event('{"a": 1}\nsecond', event="image_generation.completed", id="3")
    assert SSEParser().feed(wire) == [
        SSEEvent("image_generation.completed", '{"a": 1}\nsecond', "3")
    ]


def test_bad_bound_is_rejected() -> None:
    with pytest.raises(ValueError):
        SSEParser(max_event_bytes=0)
