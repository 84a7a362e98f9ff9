"""Server-sent events, parsed incrementally and within bounds.

Follows the WHATWG event-stream grammar: lines end in CRLF, LF or CR (a CRLF
may be split across two reads), ``:`` starts a comment, ``field: value`` sets
``event``/``data``/``id``/``retry``, and a blank line dispatches the event. The
parser is pure (bytes in, events out) so any chunking of the same bytes gives
the same events; ``in_event`` says whether the bytes stopped inside an event,
which is how a stream cut mid-event is told apart from one that ended cleanly.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ..errors import MalformedStreamEvent

#: The largest event (data plus any unterminated line) held in memory by default.
DEFAULT_MAX_EVENT_BYTES = 64 * 1024 * 1024

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its type (``message`` when unnamed), data, last id and retry."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Turns a byte stream into ``SSEEvent`` s; ``feed`` as bytes arrive, ``close`` at EOF.

    ``max_event_bytes`` bounds what one event may hold (its data lines and an
    unterminated line, counted in characters); beyond it ``feed`` raises
    ``MalformedStreamEvent`` instead of buffering without end.
    """

    __slots__ = (
        "_data",
        "_decoder",
        "_dirty",
        "_event",
        "_held",
        "_last_id",
        "_line",
        "_line_len",
        "_max",
        "_pending_cr",
        "_retry",
        "_started",
        "events",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be >= 1")
        self._max = max_event_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line: list[str] = []  # the unterminated line, in pieces
        self._line_len = 0
        self._data: list[str] = []
        self._held = 0  # characters held for the current event
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._dirty = False  # a field line was seen since the last dispatch
        self._pending_cr = False  # the last read ended in CR: a leading LF belongs to it
        self._started = False
        #: Events dispatched so far.
        self.events = 0

    @property
    def in_event(self) -> bool:
        """Whether the bytes so far stop inside an event (fields or a line not yet ended)."""
        return self._dirty or self._line_len > 0

    @property
    def last_id(self) -> str | None:
        return self._last_id

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse ``chunk``; return the events it completed (maybe none)."""
        return self._text(self._decoder.decode(chunk))

    def close(self) -> list[SSEEvent]:
        """Flush the decoder at end of stream. An unfinished event is not dispatched."""
        return self._text(self._decoder.decode(b"", final=True))

    def _text(self, text: str) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if not text:
            return out
        start = 0
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                start = 1
        if self._pending_cr:
            self._pending_cr = False
            if text.startswith("\n", start):
                start += 1
        end = len(text)
        while start < end:
            match = _EOL.search(text, start)
            if match is None:
                piece = text[start:]
                self._line.append(piece)
                self._line_len += len(piece)
                self._check(self._held + self._line_len)
                break
            piece = text[start : match.start()]
            if self._line:
                self._line.append(piece)
                line = "".join(self._line)
                self._line.clear()
                self._line_len = 0
            else:
                line = piece
            if match.end() == end and match.group() == "\r":
                self._pending_cr = True
            self._process(line, out)
            start = match.end()
        return out

    def _check(self, size: int) -> None:
        if size > self._max:
            raise MalformedStreamEvent(
                f"stream event exceeds {self._max} characters", reason="too_large"
            )

    def _process(self, line: str, out: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line[0] == ":":
            return  # comment (keep-alive)
        self._dirty = True
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._held += len(value) + 1
            self._check(self._held)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 12:
            self._retry = int(value)
        # any other field is ignored, as the grammar says

    def _dispatch(self, out: list[SSEEvent]) -> None:
        data, self._data = self._data, []
        event, self._event = self._event, ""
        self._held = 0
        self._dirty = False
        if not data:
            return  # an event with no data lines is not dispatched
        out.append(SSEEvent(event or "message", "\n".join(data), self._last_id, self._retry))
        self.events += 1


def encode_event(data: str, event: str | None = None, id: str | None = None) -> bytes:
    """One event in wire form (for the simulator and tests): fields, then a blank line."""
    lines: list[str] = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.extend(f"data: {line}" for line in _EOL.split(data))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEEvent", "SSEParser", "encode_event"]
