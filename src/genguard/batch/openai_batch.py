"""OpenAI's Files + Batch API for images: a JSONL file of ``/v1/images/generations`` (or
``/v1/images/edits``) requests, ``POST /v1/batches``, polling, then the output and
error files, each line mapped back by ``custom_id``."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import aiohttp

from ..clock import Clock
from ..errors import GenGuardError, ResponseError
from ..model import Call, GenerationResult, Image
from ..providers import _wire
from ..providers.openai import OpenAIProvider, openai_error
from ..providers.transport import HttpTransport, RawResponse
from .errors import BatchJobFailed
from .jobs import Job
from .remote import LineResult, PendingLine, RemoteOutcome, RemoteStatus, safe_id

GENERATIONS, EDITS = "/v1/images/generations", "/v1/images/edits"
_OUTCOMES: dict[str, RemoteOutcome] = {
    "completed": "completed",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}
_EDIT_SKIPS = ("moderation", "style")


class OpenAIBatchAPI:
    """Upload, create, poll, download: the Batch API over the client's HTTP session."""

    name = "openai"

    def __init__(self, provider: OpenAIProvider, transport: HttpTransport, clock: Clock) -> None:
        self.provider = provider
        self.transport = transport
        self.clock = clock
        self._secret = provider._key  # read where needed; never a plain attribute
        self._base = provider.base_url
        self._auth = _wire.SecretHeaders({"authorization": f"Bearer {self._secret.get()}"})
        self._json = _wire.SecretHeaders({**self._auth, "content-type": "application/json"})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base!r})"

    def group(self, job: Job) -> str:
        return EDITS if job.images else GENERATIONS

    def _body(self, line: PendingLine, endpoint: str) -> dict[str, Any]:
        request = line.call.request
        body = self.provider.build_json(request, line.call.model)
        if endpoint == EDITS:
            for key in _EDIT_SKIPS:
                body.pop(key, None)
            body["images"] = [{"image_url": _data_url(image)} for image in request.images]
        return body

    async def submit(self, group: str, lines: Sequence[PendingLine]) -> str:
        payload = b"".join(
            _wire.dumps({"custom_id": line.job.id, "method": "POST", "url": group,
                         "body": self._body(line, group)}) + b"\n"
            for line in lines
        )  # fmt: skip
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", payload, filename="genguard-batch.jsonl",
                       content_type="application/jsonl")  # fmt: skip
        uploaded = await self._request("POST", "/v1/files", body=form, headers=self._auth)
        file_id = safe_id(uploaded.get("id"))
        if not file_id:
            raise ResponseError("openai: the uploaded file has no id", provider=self.name)
        create = {"input_file_id": file_id, "endpoint": group, "completion_window": "24h"}
        created = await self._request("POST", "/v1/batches", body=_wire.dumps(create))
        batch_id = safe_id(created.get("id"))
        if not batch_id:
            raise ResponseError("openai: the created batch has no id", provider=self.name)
        return batch_id

    async def status(self, batch_id: str) -> RemoteStatus:
        data = await self._request("GET", f"/v1/batches/{batch_id}")
        return _status(data)

    async def results(
        self, batch_id: str, status: RemoteStatus, calls: dict[str, Call]
    ) -> list[tuple[str, LineResult]]:
        data = await self._request("GET", f"/v1/batches/{batch_id}")
        out: list[tuple[str, LineResult]] = []
        for name in ("output_file_id", "error_file_id"):
            file_id = safe_id(data.get(name))
            if not file_id:
                continue
            raw = await self._raw("GET", f"/v1/files/{file_id}/content", headers=self._auth)
            for line in raw.body.splitlines():
                if line.strip():
                    parsed = self._line(line, batch_id, status, calls)
                    if parsed is not None:
                        out.append(parsed)
        return out

    def _line(
        self, line: bytes, batch_id: str, status: RemoteStatus, calls: dict[str, Call]
    ) -> tuple[str, LineResult] | None:
        item = _wire.try_loads(line)
        if not isinstance(item, dict):
            return None
        key = item.get("custom_id")
        if not isinstance(key, str) or key not in calls:
            return None  # not ours (or mangled): the job is then reported missing
        response = item.get("response")
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            code = response["status_code"]
            headers = {}
            request_id = _wire.lenient_str(response.get("request_id"))
            if request_id:
                headers["x-request-id"] = request_id
            raw = RawResponse(code, headers, _wire.dumps(response.get("body")), 0.0)
            if 200 <= code < 300:
                return key, self._parse(raw, calls[key])
            return key, openai_error(raw, api_key=self._secret.get(), now=self.clock.wall())
        error = item.get("error")
        code = _wire.lenient_str(error.get("code")) if isinstance(error, dict) else None
        message = _wire.provider_text(error.get("message"), self._secret.get()) if isinstance(
            error, dict) else "no response"  # fmt: skip
        state = "expired" if code == "batch_expired" else status.outcome
        return key, BatchJobFailed(f"{batch_id}: {code or 'error'}: {message}", batch_id=batch_id,
                                   state=state)  # fmt: skip

    def _parse(self, raw: RawResponse, call: Call) -> LineResult:
        try:
            parsed = self.provider.parse_images(raw)
        except GenGuardError as error:
            return error
        images = [item for item in parsed.items if isinstance(item, Image)]
        if len(images) != len(parsed.items):
            return ResponseError("openai: batch results with image URLs are not supported",
                                 provider=self.name)  # fmt: skip
        return GenerationResult(
            images=tuple(images),
            generation_id=call.generation_id,
            provider=self.name,
            model=call.model,
            usage=parsed.usage,
            request_id=parsed.request_id,
            revised_prompt=parsed.revised_prompt,
        )

    async def _raw(
        self, method: str, path: str, *, body: Any = None, headers: Any = None
    ) -> RawResponse:
        raw = await self.transport.request(
            method, self._base + path, headers=headers or self._json, body=body, provider=self.name
        )
        if not 200 <= raw.status < 300:
            raise openai_error(raw, api_key=self._secret.get(), now=self.clock.wall())
        return raw

    async def _request(
        self, method: str, path: str, *, body: Any = None, headers: Any = None
    ) -> dict[str, Any]:
        raw = await self._raw(method, path, body=body, headers=headers)
        with _wire.response_errors(self.name, raw.status, None):
            return _wire.as_dict(_wire.loads(raw.body), "body")


def _status(data: dict[str, Any]) -> RemoteStatus:
    state = _wire.lenient_str(data.get("status")) or "unknown"
    counts = data.get("request_counts")
    counts = counts if isinstance(counts, dict) else {}
    message = None
    errors = data.get("errors")
    if isinstance(errors, dict) and isinstance(errors.get("data"), list) and errors["data"]:
        first = errors["data"][0]
        if isinstance(first, dict):
            message = _wire.lenient_str(first.get("message"))
    return RemoteStatus(
        state=state,
        outcome=_OUTCOMES.get(state, "running"),
        total=_wire.lenient_int(counts.get("total")) or 0,
        succeeded=_wire.lenient_int(counts.get("completed")) or 0,
        failed=_wire.lenient_int(counts.get("failed")) or 0,
        message=message,
    )


def _data_url(image: Image) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


__all__ = ["EDITS", "GENERATIONS", "OpenAIBatchAPI"]
