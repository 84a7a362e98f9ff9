"""Streamed answers: OpenAI image events and Gemini ``streamGenerateContent`` chunks, with faults.

A ``StreamPlan`` says how one stream unfolds: how many partial images, how
long before the headers and before the first event, the gap between events,
a one-off stall, and how it ends (``fault``: ``drop`` ends cleanly with no
completed event, ``cut`` breaks the connection inside the last event, ``lost``
breaks it between events, ``error`` sends an error event, ``malformed`` sends
a last event that is not JSON). Delays sleep on the simulator's clock, so with a virtual clock a
minute-long generation plays out in milliseconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from .png import colour_for, expand_tokens, png_token
from .requests import SimRequest

Sleep = Callable[[float], Awaitable[None]]
Fault = Literal["drop", "cut", "lost", "error", "malformed"]
FAULTS: tuple[str, ...] = ("drop", "cut", "lost", "error", "malformed")
#: Partial images the simulator will send for one stream at most.
MAX_PARTIALS = 16


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """How the simulator streams one answer (seconds, on the simulator's clock).

    ``partials`` None follows the request (OpenAI ``partial_images``; Gemini's
    thought images). ``first_event`` is the wait after the headers, ``gap`` the
    wait before each later event, ``stall`` an extra wait after ``stall_after``
    events. ``before_headers`` delays the response itself. ``error_code`` is the
    HTTP-like code of an ``error`` fault (500: a server error, 429: rate limit).
    """

    partials: int | None = None
    before_headers: float = 0.0
    first_event: float = 0.0
    gap: float = 0.0
    stall: float = 0.0
    stall_after: int = 1
    fault: Fault | None = None
    error_code: int = 500

    def __post_init__(self) -> None:
        if self.partials is not None and not 0 <= self.partials <= MAX_PARTIALS:
            raise ValueError(f"partials must be 0..{MAX_PARTIALS}")
        for name in ("before_headers", "first_event", "gap", "stall"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        if self.stall_after < 0:
            raise ValueError("stall_after must be >= 0")
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}")
        if not 400 <= self.error_code <= 599:
            raise ValueError("error_code must be 400..599")


def wants_stream(sreq: SimRequest) -> bool:
    """Whether the request asked for a stream (Gemini's stream endpoint, OpenAI ``stream``)."""
    if sreq.api == "gemini":
        return ":streamGenerateContent" in sreq.path
    if sreq.api != "openai" or not isinstance(sreq.body, dict):
        return False
    fields = sreq.body.get("fields")
    if isinstance(fields, dict):  # an edit (multipart)
        return str(fields.get("stream", "")).lower() == "true"
    return sreq.body.get("stream") is True


def _requested_partials(sreq: SimRequest) -> int:
    body = sreq.body if isinstance(sreq.body, dict) else {}
    fields = body.get("fields")
    raw = (fields if isinstance(fields, dict) else body).get("partial_images", 0)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return 0
    return max(0, min(3, value))


def _sse(data: Any, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return expand_tokens(f"{head}data: {text}\n\n".encode())


def openai_events(
    sreq: SimRequest, success: dict[str, Any], plan: StreamPlan, width: int, height: int
) -> tuple[list[bytes], list[bytes]]:
    """(partial events, final events) for an OpenAI images stream."""
    prefix = "image_edit" if sreq.path.endswith("/edits") else "image_generation"
    count = plan.partials if plan.partials is not None else _requested_partials(sreq)
    common: dict[str, Any] = {
        k: success[k] for k in ("background", "output_format", "quality", "size") if k in success
    }
    created = success.get("created", int(time.time()))
    partials = [
        _sse(
            {
                "type": f"{prefix}.partial_image",
                "b64_json": png_token(width, height, colour_for(sreq.prompt, sreq.seed, 100 + i)),
                "created_at": created,
                "partial_image_index": i,
                **common,
            },
            f"{prefix}.partial_image",
        )
        for i in range(count)
    ]
    finals = []
    for item in success.get("data", []):
        event: dict[str, Any] = {
            "type": f"{prefix}.completed",
            "b64_json": item.get("b64_json"),
            "created_at": created,
            **common,
        }
        if "usage" in success:
            event["usage"] = success["usage"]
        finals.append(_sse(event, f"{prefix}.completed"))
    return partials, finals


def gemini_chunks(
    sreq: SimRequest, success: dict[str, Any], plan: StreamPlan, width: int, height: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(leading chunks, final chunks) for a Gemini stream: one part per chunk, and the
    finish reason and usage on the last chunk."""
    top: dict[str, Any] = {k: success[k] for k in ("modelVersion", "responseId") if k in success}
    candidates = success.get("candidates")
    if not candidates:  # a prompt block: one chunk says it all
        return [], [success]
    candidate = candidates[0]
    parts = list((candidate.get("content") or {}).get("parts") or [])
    if plan.partials is not None:
        parts = [p for p in parts if not (p.get("thought") and "inlineData" in p)]
        drafts = [
            {
                "inlineData": {
                    "mimeType": "image/png",
                    "data": png_token(width, height, colour_for(sreq.prompt, sreq.seed, 100 + i)),
                },
                "thought": True,
            }
            for i in range(plan.partials)
        ]
        parts = drafts + parts
    # One chunk per image (draft or final), text parts riding with the next image, so
    # the plan's pacing is per image.
    groups: list[list[dict[str, Any]]] = []
    pending: list[dict[str, Any]] = []
    for part in parts:
        pending.append(part)
        if "inlineData" in part:
            groups.append(pending)
            pending = []
    if pending:
        if groups:
            groups[-1].extend(pending)
        else:
            groups.append(pending)
    chunks: list[dict[str, Any]] = [
        {"candidates": [{"content": {"role": "model", "parts": group}, "index": 0}], **top}
        for group in groups
    ]
    ending = {k: v for k, v in candidate.items() if k != "content"}
    if chunks:
        chunks[-1]["candidates"][0].update(ending)
    else:
        chunks = [{"candidates": [ending], **top}]
    if "usageMetadata" in success:
        chunks[-1]["usageMetadata"] = success["usageMetadata"]
    # The last chunk holds the final image and the finish reason: the ending a fault drops.
    return chunks[:-1], chunks[-1:]


def _error_event(api: str, code: int) -> bytes:
    if api == "gemini":
        status = "RESOURCE_EXHAUSTED" if code == 429 else "INTERNAL"
        message = "Resource exhausted." if code == 429 else "Internal error encountered."
        return _sse({"error": {"code": code, "message": message, "status": status}})
    kind = "rate_limit_exceeded" if code == 429 else "server_error"
    body = {
        "type": "error",
        "error": {
            "type": kind,
            "code": kind,
            "message": "The server had an error while processing your request.",
            "param": None,
        },
    }
    return _sse(body, "error")


async def send_stream(
    request: web.Request,
    sreq: SimRequest,
    success: dict[str, Any],
    headers: dict[str, str],
    plan: StreamPlan,
    sleep: Sleep,
    size: tuple[int, int],
) -> web.StreamResponse | None:
    """Write the stream for ``success`` as ``plan`` says (None: the connection was cut)."""
    if plan.before_headers:
        await sleep(plan.before_headers)
    width, height = size
    if sreq.api == "gemini":
        lead, ending = gemini_chunks(sreq, success, plan, width, height)
        if "alt=sse" not in request.query_string:  # the JSON-array form, all at once
            body = expand_tokens(json.dumps(lead + ending, separators=(",", ":")).encode())
            headers = {**headers, "content-type": "application/json; charset=UTF-8"}
            return web.Response(status=200, body=body, headers=headers)
        first = [_sse(chunk) for chunk in lead]
        last = [_sse(chunk) for chunk in ending]
    else:
        first, last = openai_events(sreq, success, plan, width, height)
    resp = web.StreamResponse(
        status=200,
        headers={**headers, "content-type": "text/event-stream; charset=utf-8"},
    )
    resp.headers.pop("Content-Length", None)
    await resp.prepare(request)
    sent = 0

    async def pace() -> None:
        nonlocal sent
        if sent == 0:
            if plan.first_event:
                await sleep(plan.first_event)
        else:
            if plan.gap:
                await sleep(plan.gap)
            if plan.stall and sent == plan.stall_after:
                await sleep(plan.stall)
        sent += 1

    for event in first:
        await pace()
        await resp.write(event)
    fault = plan.fault
    if fault == "drop":
        await resp.write_eof()
        return resp
    if fault == "lost":
        if request.transport is not None:
            request.transport.close()
        return None
    await pace()
    if fault == "error":
        await resp.write(_error_event(sreq.api, plan.error_code))
    elif fault == "malformed":
        await resp.write(b'data: {"candidates": [{"content": \n\n')
    elif fault == "cut":
        await resp.write(last[0][: max(1, len(last[0]) // 2)])
        if request.transport is not None:
            request.transport.close()
        return None
    else:
        for index, event in enumerate(last):
            if index:
                await pace()
            await resp.write(event)
    await resp.write_eof()
    return resp


__all__ = [
    "FAULTS",
    "MAX_PARTIALS",
    "Fault",
    "Sleep",
    "StreamPlan",
    "gemini_chunks",
    "openai_events",
    "send_stream",
    "wants_stream",
]
