"""The simulator's Files and Batch APIs: OpenAI (``/v1/files``, ``/v1/batches``) and Gemini
Batch Mode (``models/{model}:batchGenerateContent``, inline or a JSONL file, ``batches/{id}``).

Batches complete on polls, not on time: a batch reports ``in_progress`` for
``faults.polls`` GETs, then finishes, so tests drive it without sleeping. Every
line that is generated goes to the simulator's request log (``path`` is
``/batches/<id>``), so generations are counted the same way for live calls and
batches. Faults (``BatchFaults``): a failed batch, an expired one (the first half
of its lines done, the rest not), per-line errors, slow completion.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import BodyPartReader, web

from . import wire
from .png import expand_tokens
from .requests import RequestError, SimRequest, parse_gemini, parse_openai_generation

if TYPE_CHECKING:
    from .server import Simulator

Outcome = Literal["completed", "failed", "expired"]
OPENAI_ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")
MAX_OPENAI_LINES = 50_000
MAX_FILE_BYTES = 64 * 1024 * 1024
_GEMINI_BATCH = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"
_GEMINI_OUTPUT = (
    "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput"
)


@dataclass
class BatchFaults:
    """How the next batches behave. ``polls`` is read at every GET (lower it to let a
    running batch finish); the rest is fixed when a batch is created."""

    #: GETs that still report the batch running before it finishes (slow completion).
    polls: int = 1
    outcome: Outcome = "completed"
    #: Seeded fraction of lines that fail (429/500 alternately), and lines that always do.
    line_errors: float = 0.0
    error_keys: frozenset[str] = frozenset()


@dataclass
class _Line:
    key: str
    body: dict[str, Any]


@dataclass
class _Batch:
    id: str
    api: Literal["openai", "gemini"]
    model: str
    endpoint: str
    lines: list[_Line]
    outcome: Outcome
    line_errors: float
    error_keys: frozenset[str]
    created: int
    inline: bool = False
    gets: int = 0
    state: str = "validating"
    cancelled: bool = False
    output_file: str | None = None
    error_file: str | None = None
    succeeded: int = 0
    failed: int = 0
    inline_results: list[dict[str, Any]] = field(default_factory=list)


class BatchBackend:
    """Files and batches of one simulator; ``faults`` applies to batches created next."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self.faults = BatchFaults()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, _Batch] = {}
        self.created = 0
        self.polls = 0
        self.uploads = 0
        self.cancels = 0
        self._ids = itertools.count(1)
        self._uploads: dict[str, str] = {}

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._openai_upload)
        app.router.add_get("/v1/files/{id}/content", self._openai_content)
        app.router.add_post("/v1/batches", self._openai_create)
        app.router.add_get("/v1/batches/{id}", self._openai_get)
        app.router.add_post("/v1/batches/{id}/cancel", self._openai_cancel)
        app.router.add_post("/upload/v1beta/files", self._gemini_upload)
        app.router.add_get("/download/v1beta/files/{name}", self._gemini_download)
        app.router.add_post("/v1beta/models/{model}:batchGenerateContent", self._gemini_create)
        app.router.add_get("/v1beta/batches/{id}", self._gemini_get)
        app.router.add_post("/v1beta/batches/{id}:cancel", self._gemini_cancel)

    def _new_id(self, prefix: str) -> str:
        digest = hashlib.blake2b(f"{prefix}{next(self._ids)}{id(self)}".encode(), digest_size=8)
        return f"{prefix}{digest.hexdigest()}"

    # -- OpenAI ----------------------------------------------------------------------------

    async def _openai_upload(self, request: web.Request) -> web.Response:
        if _bearer(request) is None:
            return _json(401, wire.openai_missing_key())
        purpose, data, name = None, None, "input.jsonl"
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                return _json(400, wire.openai_error(400, "Nested multipart is not supported."))
            if part.name == "purpose":
                purpose = (await part.read()).decode("utf-8", "replace")
            elif part.name == "file":
                name = part.filename or name
                data = await part.read()
        if purpose != "batch" or data is None:
            return _json(400, wire.openai_error(400, "A file with purpose 'batch' is required."))
        file_id = self._new_id("file-")
        self.files[file_id] = bytes(data)
        self.uploads += 1
        return _json(200, _openai_file(file_id, name, len(data)))

    async def _openai_content(self, request: web.Request) -> web.Response:
        if _bearer(request) is None:
            return _json(401, wire.openai_missing_key())
        data = self.files.get(request.match_info["id"])
        if data is None:
            return _json(404, wire.openai_error(404, "No such File object."))
        return web.Response(body=data, content_type="application/octet-stream")

    async def _openai_create(self, request: web.Request) -> web.Response:
        if _bearer(request) is None:
            return _json(401, wire.openai_missing_key())
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _json(400, wire.openai_error(400, "We could not parse the JSON body."))
        endpoint = body.get("endpoint")
        if endpoint not in OPENAI_ENDPOINTS:
            return _json(400, wire.openai_error(400, f"Unsupported endpoint {endpoint!r}."))
        if body.get("completion_window") != "24h":
            return _json(400, wire.openai_error(400, "completion_window must be '24h'."))
        data = self.files.get(str(body.get("input_file_id")))
        if data is None:
            return _json(400, wire.openai_error(400, "input_file_id does not exist."))
        lines, problem = _openai_lines(data, endpoint)
        if problem is not None:
            return _json(400, wire.openai_error(400, problem))
        batch = self._batch("openai", "", endpoint, lines)
        return _json(200, self._openai_view(batch, body.get("input_file_id")))

    async def _openai_get(self, request: web.Request) -> web.Response:
        if _bearer(request) is None:
            return _json(401, wire.openai_missing_key())
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.api != "openai":
            return _json(404, wire.openai_error(404, "No such Batch object."))
        self._advance(batch)
        return _json(200, self._openai_view(batch, None))

    async def _openai_cancel(self, request: web.Request) -> web.Response:
        if _bearer(request) is None:
            return _json(401, wire.openai_missing_key())
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.api != "openai":
            return _json(404, wire.openai_error(404, "No such Batch object."))
        self.cancels += 1
        if batch.state not in ("completed", "failed", "expired", "cancelled"):
            batch.cancelled, batch.state = True, "cancelling"
        return _json(200, self._openai_view(batch, None))

    def _openai_view(self, batch: _Batch, input_file: object) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": None,
            "input_file_id": input_file,
            "completion_window": "24h",
            "status": batch.state,
            "output_file_id": batch.output_file,
            "error_file_id": batch.error_file,
            "created_at": batch.created,
            "expires_at": batch.created + 86400,
            "request_counts": {
                "total": len(batch.lines),
                "completed": batch.succeeded,
                "failed": batch.failed,
            },
            "metadata": None,
        }
        if batch.state == "failed":
            view["errors"] = {
                "object": "list",
                "data": [{"code": "batch_failed", "message": "The batch could not be run.",
                          "param": None, "line": None}],
            }  # fmt: skip
        return view

    # -- Gemini ----------------------------------------------------------------------------

    async def _gemini_upload(self, request: web.Request) -> web.Response:
        if not _goog_key(request):
            return _json(403, wire.gemini_error(403))
        command = request.headers.get("x-goog-upload-command", "").lower()
        upload_id = request.query.get("upload_id")
        if upload_id is None:
            if "start" not in command:
                return _json(400, wire.gemini_error(400, "Start a resumable upload first."))
            await request.read()
            upload_id = self._new_id("up")
            self._uploads[upload_id] = ""
            url = f"{self._sim.base_url}/upload/v1beta/files?upload_id={upload_id}"
            headers = {"x-goog-upload-url": url, "x-goog-upload-status": "active"}
            return web.Response(headers=headers)
        if upload_id not in self._uploads or "finalize" not in command:
            return _json(400, wire.gemini_error(400, "Unknown upload or not finalized."))
        del self._uploads[upload_id]
        data = await request.read()
        name = f"files/{self._new_id('')}"
        self.files[name] = data
        self.uploads += 1
        return _json(200, {"file": _gemini_file(name, len(data), self._sim.base_url)})

    async def _gemini_download(self, request: web.Request) -> web.Response:
        if not _goog_key(request):
            return _json(403, wire.gemini_error(403))
        name = request.match_info["name"].removesuffix(":download")
        data = self.files.get(f"files/{name}")
        if data is None:
            return _json(404, wire.gemini_error(404, "File not found."))
        return web.Response(body=data, content_type="application/jsonl")

    async def _gemini_create(self, request: web.Request) -> web.Response:
        if not _goog_key(request):
            return _json(403, wire.gemini_error(403))
        model = request.match_info["model"]
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        batch_spec = body.get("batch") if isinstance(body, dict) else None
        config = batch_spec.get("input_config") or batch_spec.get("inputConfig") if isinstance(
            batch_spec, dict) else None  # fmt: skip
        if not isinstance(config, dict):
            return _json(400, wire.gemini_error(400, "batch.input_config is required."))
        lines, problem, inline = _gemini_lines(config, self.files)
        if problem is not None:
            return _json(400, wire.gemini_error(400, problem))
        batch = self._batch("gemini", model, "", lines)
        batch.inline = inline
        return _json(200, self._gemini_view(batch))

    async def _gemini_get(self, request: web.Request) -> web.Response:
        if not _goog_key(request):
            return _json(403, wire.gemini_error(403))
        batch = self.batches.get(f"batches/{request.match_info['id']}")
        if batch is None:
            return _json(404, wire.gemini_error(404, "Batch not found."))
        self._advance(batch)
        return _json(200, self._gemini_view(batch))

    async def _gemini_cancel(self, request: web.Request) -> web.Response:
        if not _goog_key(request):
            return _json(403, wire.gemini_error(403))
        batch = self.batches.get(f"batches/{request.match_info['id']}")
        if batch is None:
            return _json(404, wire.gemini_error(404, "Batch not found."))
        self.cancels += 1
        if batch.state not in _TERMINAL:
            batch.cancelled, batch.state = True, "cancelling"
        return _json(200, {})

    def _gemini_view(self, batch: _Batch) -> dict[str, Any]:
        state = _GEMINI_STATES[batch.state]
        pending = 0 if batch.state in _TERMINAL else len(batch.lines)
        meta: dict[str, Any] = {
            "@type": _GEMINI_BATCH,
            "model": f"models/{batch.model}",
            "displayName": batch.id,
            "name": batch.id,
            "state": state,
            "batchStats": {
                "requestCount": str(len(batch.lines)),
                "successfulRequestCount": str(batch.succeeded),
                "failedRequestCount": str(batch.failed),
                "pendingRequestCount": str(pending),
            },
        }
        view: dict[str, Any] = {"name": batch.id, "metadata": meta, "done": False}
        if batch.state not in _TERMINAL:
            return view
        view["done"] = True
        if batch.state == "failed":
            view["error"] = {"code": 13, "message": "The batch could not be run."}
            return view
        if batch.state == "cancelled":
            return view
        output: dict[str, Any] = {"@type": _GEMINI_OUTPUT}
        if batch.inline:
            output["inlinedResponses"] = {"inlinedResponses": batch.inline_results}
        elif batch.output_file is not None:
            output["responsesFile"] = batch.output_file
        meta["output"] = output
        view["response"] = output
        return view

    # -- running ---------------------------------------------------------------------------

    def _batch(
        self, api: Literal["openai", "gemini"], model: str, endpoint: str, lines: list[_Line]
    ) -> _Batch:
        faults = self.faults
        batch_id = self._new_id("batch_") if api == "openai" else f"batches/{self._new_id('')}"
        batch = _Batch(
            id=batch_id, api=api, model=model, endpoint=endpoint, lines=lines,
            outcome=faults.outcome, line_errors=faults.line_errors,
            error_keys=faults.error_keys, created=int(time.time()),
        )  # fmt: skip
        self.batches[batch_id] = batch
        self.created += 1
        return batch

    def _advance(self, batch: _Batch) -> None:
        self.polls += 1
        if batch.state in _TERMINAL:
            return
        if batch.cancelled:
            batch.state = "cancelled"
            return
        batch.gets += 1
        if batch.gets <= self.faults.polls:
            batch.state = "in_progress"
            return
        if batch.outcome == "failed":
            batch.state = "failed"
            return
        done = len(batch.lines) if batch.outcome == "completed" else len(batch.lines) // 2
        self._run(batch, done)
        batch.state = batch.outcome

    def _run(self, batch: _Batch, done: int) -> None:
        rng = random.Random(f"{self._sim.seed}:{batch.id}")
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, line in enumerate(batch.lines):
            if index >= done:
                if batch.api == "openai":
                    errors.append(_openai_expired(line.key))
                batch.failed += 1
                continue
            failing = line.key in batch.error_keys or rng.random() < batch.line_errors
            code = 429 if index % 2 else 500
            error_body: Any = None
            try:
                sreq = self._parse(batch, line)
            except RequestError as exc:
                failing, code, error_body = True, exc.status, exc.body
            if failing:
                batch.failed += 1
                if error_body is None:
                    error_body = _error_body(batch.api, code)
                if batch.api == "openai":
                    errors.append(_openai_result(line.key, code, error_body))
                else:
                    outputs.append({"key": line.key, "error": error_body["error"]})
                self._log(batch, line, code)
                continue
            batch.succeeded += 1
            response = self._sim._success(sreq)
            self._log(batch, line, 200, sreq)
            if batch.api == "openai":
                outputs.append(_openai_result(line.key, 200, response))
            else:
                outputs.append({"key": line.key, "response": response})
        if batch.api == "gemini" and batch.inline:
            batch.inline_results = [_inline(item) for item in outputs]
        elif batch.api == "gemini":
            batch.output_file = f"files/{self._new_id('out')}"
            self.files[batch.output_file] = _jsonl(outputs)
        else:
            if outputs:
                batch.output_file = self._new_id("file-")
                self.files[batch.output_file] = _jsonl(outputs)
            if errors:
                batch.error_file = self._new_id("file-")
                self.files[batch.error_file] = _jsonl(errors)

    def _parse(self, batch: _Batch, line: _Line) -> SimRequest:
        raw = json.dumps(line.body).encode()
        if batch.api == "gemini":
            return parse_gemini(f"/batches/{batch.id}", batch.model, raw, "batch")
        sreq = parse_openai_generation(f"/batches/{batch.id}", raw, "batch")
        images = line.body.get("images")
        count = len(images) if isinstance(images, list) else 0
        if batch.endpoint.endswith("/edits") and count == 0:
            raise RequestError(400, wire.openai_missing_param("images"))
        return dataclasses.replace(sreq, options={**sreq.options, "input_images": count})

    def _log(self, batch: _Batch, line: _Line, status: int, sreq: SimRequest | None = None) -> None:
        if sreq is None:
            prompt = _prompt_of(batch.api, line.body)
            sreq = SimRequest(batch.api, f"/batches/{batch.id}", batch.model, prompt, None,
                              line.body, "")  # fmt: skip
        self._sim._record(batch.api, time.monotonic(), sreq.path, sreq, status, False, None)


_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_GEMINI_STATES = {
    "validating": "BATCH_STATE_PENDING",
    "in_progress": "BATCH_STATE_RUNNING",
    "cancelling": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelled": "BATCH_STATE_CANCELLED",
}


def _openai_lines(data: bytes, endpoint: str) -> tuple[list[_Line], str | None]:
    lines: list[_Line] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            return [], f"Line {number} is not valid JSON."
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            return [], f"Line {number} has no custom_id."
        if item.get("url") != endpoint or item.get("method") != "POST":
            return [], f"Line {number}: url must be {endpoint} with method POST."
        if item["custom_id"] in seen:
            return [], f"Line {number}: duplicate custom_id {item['custom_id']!r}."
        if not isinstance(item.get("body"), dict):
            return [], f"Line {number} has no body."
        seen.add(item["custom_id"])
        lines.append(_Line(item["custom_id"], item["body"]))
    if not lines or len(lines) > MAX_OPENAI_LINES:
        return [], f"A batch holds 1 to {MAX_OPENAI_LINES} requests."
    return lines, None


def _gemini_lines(
    config: dict[str, Any], files: dict[str, bytes]
) -> tuple[list[_Line], str | None, bool]:
    requests = config.get("requests")
    file_name = config.get("file_name") or config.get("fileName")
    items: list[Any] = []
    inline = isinstance(requests, dict)
    if inline:
        assert isinstance(requests, dict)
        items = requests.get("requests") or []
        if not isinstance(items, list):
            return [], "input_config.requests.requests must be a list.", True
    elif isinstance(file_name, str) and file_name in files:
        for raw in files[file_name].splitlines():
            if raw.strip():
                try:
                    items.append(json.loads(raw))
                except ValueError:
                    return [], "The input file holds a line that is not JSON.", False
    else:
        return [], "input_config needs requests or an uploaded file_name.", False
    lines: list[_Line] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
            return [], f"Request {index} has no request object.", inline
        meta = item.get("metadata") if inline else item
        key = meta.get("key") if isinstance(meta, dict) else None
        if not isinstance(key, str):
            return [], f"Request {index} has no key.", inline
        lines.append(_Line(key, item["request"]))
    if not lines:
        return [], "The batch holds no requests.", inline
    return lines, None, inline


def _inline(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k != "key"}
    out["metadata"] = {"key": item["key"]}
    return out


def _openai_result(key: str, status: int, body: Any) -> dict[str, Any]:
    digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return {
        "id": f"batch_req_{digest}",
        "custom_id": key,
        "response": {"status_code": status, "request_id": f"req_{digest}", "body": body},
        "error": None,
    }


def _openai_expired(key: str) -> dict[str, Any]:
    digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return {
        "id": f"batch_req_{digest}",
        "custom_id": key,
        "response": None,
        "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        },
    }


def _error_body(api: str, code: int) -> dict[str, Any]:
    return wire.openai_error(code) if api == "openai" else wire.gemini_error(code)


def _prompt_of(api: str, body: dict[str, Any]) -> str:
    if api == "openai":
        prompt = body.get("prompt")
        return prompt if isinstance(prompt, str) else ""
    try:
        parts = body["contents"][-1]["parts"]
        return " ".join(p["text"] for p in parts if isinstance(p.get("text"), str))
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def _openai_file(file_id: str, name: str, size: int) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": size, "created_at": int(time.time()),
            "filename": name, "purpose": "batch"}  # fmt: skip


def _gemini_file(name: str, size: int, base_url: str) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/jsonl", "sizeBytes": str(size),
            "uri": f"{base_url}/v1beta/{name}", "state": "ACTIVE"}  # fmt: skip


def _jsonl(items: list[dict[str, Any]]) -> bytes:
    lines = b"".join(json.dumps(i, separators=(",", ":")).encode() + b"\n" for i in items)
    return expand_tokens(lines)


def _json(status: int, body: Any) -> web.Response:
    payload = expand_tokens(json.dumps(body, separators=(",", ":")).encode())
    return web.Response(status=status, body=payload, content_type="application/json")


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _goog_key(request: web.Request) -> bool:
    return bool(request.headers.get("x-goog-api-key") or request.query.get("key"))


__all__ = ["BatchBackend", "BatchFaults"]
