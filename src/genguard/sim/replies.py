"""Scripted replies: a small vocabulary of responses and faults a test can queue.

A ``Reply`` is data; the server renders it in the wire format of the API that
received the request (a ``Reply.status(503)`` is a Gemini ``UNAVAILABLE`` body on
the Gemini endpoint and an OpenAI ``server_error`` body on the OpenAI one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .streaming import Fault, StreamPlan

ReplyKind = Literal[
    "ok", "status", "fixture", "reset", "truncated", "html", "delay", "huge", "blocked", "stream"
]


@dataclass(frozen=True, slots=True)
class Reply:
    """One response, built with the class methods below (not by hand)."""

    kind: ReplyKind
    code: int = 200
    retry_after: str | None = None
    retry_after_ms: int | float | None = None
    retry_info: str | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    seconds: float = 0.0
    then: Reply | None = None
    before: Literal["headers", "body"] = "headers"
    size: int = 0
    keep: float = 0.5
    close: bool = True
    reason: str | None = None
    categories: tuple[str, ...] = ()
    plan: StreamPlan | None = None

    @classmethod
    def ok(cls, *, headers: Mapping[str, str] | None = None) -> Reply:
        """The normal success response for the request (bypasses the profile);
        ``headers`` are added to (or replace) the usual ones."""
        return cls("ok", headers=dict(headers or {}))

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: str | int | None = None,
        retry_after_ms: int | float | None = None,
        retry_info: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        message: str | None = None,
    ) -> Reply:
        """An error status in the API's envelope, with optional retry hints.

        ``retry_after`` is the raw ``Retry-After`` header value (seconds or an
        HTTP-date, sent verbatim); ``retry_after_ms`` the ``retry-after-ms``
        header; ``retry_info`` a Gemini ``RetryInfo.retryDelay`` such as "1.5s".
        ``body`` (dict, list or str) replaces the generated envelope.
        """
        if not 100 <= code <= 599:
            raise ValueError(f"status code must be 100..599, got {code}")
        return cls(
            "status",
            code=code,
            retry_after=None if retry_after is None else str(retry_after),
            retry_after_ms=retry_after_ms,
            retry_info=retry_info,
            body=body,
            headers=dict(headers or {}),
            message=message,
        )

    @classmethod
    def fixture(cls, source: str | Path | Mapping[str, Any]) -> Reply:
        """Serve a ``{"status", "headers", "body"}`` fixture verbatim."""
        data: Any
        if isinstance(source, Mapping):
            data = dict(source)
        else:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("status"), int):
            raise ValueError("a response fixture needs an integer 'status'")
        headers = data.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("a response fixture's 'headers' must be an object")
        return cls(
            "fixture",
            code=data["status"],
            body=data.get("body"),
            headers={str(k): str(v) for k, v in headers.items()},
        )

    @classmethod
    def raw(
        cls, status: int, body: bytes | str | Any = b"", headers: Mapping[str, str] | None = None
    ) -> Reply:
        """Send ``status``, ``headers`` and ``body`` verbatim, with no API envelope.

        ``body`` bytes go out as they are, a str as UTF-8 text, anything else as JSON.
        For bodies no real API would send (an empty 200, a proxy's page, a wrong shape).
        """
        if not 100 <= status <= 599:
            raise ValueError(f"status code must be 100..599, got {status}")
        return cls(
            "fixture",
            code=status,
            body=body,
            headers={str(k): str(v) for k, v in (headers or {}).items()},
        )

    @classmethod
    def reset(cls) -> Reply:
        """Close the connection (TCP reset) before any header is sent."""
        return cls("reset", code=0)

    @classmethod
    def truncated(cls, *, keep: float = 0.5, close: bool = True) -> Reply:
        """A 200 whose JSON is cut off after ``keep`` of its bytes.

        ``close=True``: Content-Length announces the full body and the connection
        drops mid-body (a transport error). ``close=False``: the cut-off text is
        sent as a complete body (valid HTTP, invalid JSON).
        """
        if not 0.0 <= keep < 1.0:
            raise ValueError("keep must be in [0, 1)")
        return cls("truncated", keep=keep, close=close)

    @classmethod
    def html(cls, code: int = 502) -> Reply:
        """A proxy's HTML error page (not JSON) with the given status."""
        return cls("html", code=code)

    @classmethod
    def delay(
        cls,
        seconds: float,
        then: Reply | None = None,
        *,
        before: Literal["headers", "body"] = "headers",
    ) -> Reply:
        """Wait ``seconds`` before the headers (or, ``before="body"``, after the
        headers and first body byte), then send ``then`` (default ``Reply.ok()``)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        nxt = then if then is not None else cls.ok()
        if nxt.kind in ("reset", "delay"):
            raise ValueError("delay cannot wrap reset or delay")
        return cls("delay", seconds=seconds, then=nxt, before=before)

    @classmethod
    def huge(cls, n_bytes: int) -> Reply:
        """A 200 with a valid JSON body of exactly ``n_bytes`` (streamed)."""
        if n_bytes < 16:
            raise ValueError("n_bytes must be >= 16")
        return cls("huge", size=n_bytes)

    @classmethod
    def blocked(cls, reason: str | None = None, categories: tuple[str, ...] = ()) -> Reply:
        """A provider safety block as the API reports it.

        Gemini: ``reason`` "image_safety" (200, finishReason IMAGE_SAFETY) or
        "prompt" (200, promptFeedback.blockReason PROHIBITED_CONTENT).
        OpenAI: "content_policy" (400 content_policy_violation) or "moderation"
        (400 moderation_blocked, listing ``categories``). None picks by prompt
        hash (Gemini) or by model (OpenAI: dall-e → content_policy, else moderation).
        """
        if reason not in (None, "image_safety", "prompt", "content_policy", "moderation"):
            raise ValueError(f"unknown block reason {reason!r}")
        return cls("blocked", reason=reason, categories=tuple(categories))

    @classmethod
    def stream(
        cls,
        *,
        partials: int | None = None,
        before_headers: float = 0.0,
        first_event: float = 0.0,
        gap: float = 0.0,
        stall: float = 0.0,
        stall_after: int = 1,
        fault: Fault | None = None,
        error_code: int = 500,
    ) -> Reply:
        """A streamed success (for a request that asked to stream; else a plain success),
        paced and ended as a ``StreamPlan`` says: see ``genguard.sim.streaming``."""
        plan = StreamPlan(
            partials=partials,
            before_headers=before_headers,
            first_event=first_event,
            gap=gap,
            stall=stall,
            stall_after=stall_after,
            fault=fault,
            error_code=error_code,
        )
        return cls("stream", plan=plan)
