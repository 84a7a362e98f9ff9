"""Gemini Batch Mode: ``models/{model}:batchGenerateContent`` with inline requests (small
batches) or a JSONL file uploaded through the Files API, polled as an operation, results
inline or in a responses file, each mapped back by its ``key``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..clock import Clock
from ..errors import GenGuardError, ResponseError
from ..model import Call
from ..providers import _wire
from ..providers.gemini import GeminiProvider, google_error
from ..providers.transport import HttpTransport, RawResponse
from .jobs import Job
from .remote import LineResult, PendingLine, RemoteOutcome, RemoteStatus, safe_id

#: Inline requests must stay under 20 MB; above this, the lines go in an uploaded file.
INLINE_LIMIT = 10 * 1024 * 1024
_OUTCOMES: dict[str, RemoteOutcome] = {
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_EXPIRED": "expired",
    "BATCH_STATE_CANCELLED": "cancelled",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "expired",
    "JOB_STATE_CANCELLED": "cancelled",
}


class GeminiBatchAPI:
    """Create, poll and read Gemini batches over the client's HTTP session."""

    name = "gemini"

    def __init__(self, provider: GeminiProvider, transport: HttpTransport, clock: Clock) -> None:
        self.provider = provider
        self.transport = transport
        self.clock = clock
        self._secret = provider._key  # read where needed; never a plain attribute
        self._base = provider.base_url
        self._version = provider.api_version
        self._headers = _wire.SecretHeaders(
            {"x-goog-api-key": self._secret.get(), "content-type": "application/json"}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base!r})"

    def group(self, job: Job) -> str:
        return (job.model or self.provider.model).removeprefix("models/")

    async def submit(self, group: str, lines: Sequence[PendingLine]) -> str:
        requests = [(line.job.id, self.provider.build_body(line.call.request)) for line in lines]
        inline = [{"request": body, "metadata": {"key": key}} for key, body in requests]
        size = len(_wire.dumps(inline))
        config: dict[str, Any]
        if size < INLINE_LIMIT:
            config = {"requests": {"requests": inline}}
        else:
            payload = b"".join(
                _wire.dumps({"key": key, "request": body}) + b"\n" for key, body in requests
            )
            config = {"file_name": await self._upload(payload)}
        body = {"batch": {"display_name": f"genguard-{lines[0].job.id}", "input_config": config}}
        url = f"{self._base}/{self._version}/models/{group}:batchGenerateContent"
        data = await self._request("POST", url, _wire.dumps(body))
        name = safe_id(data.get("name"))
        if name is None:
            raise ResponseError("gemini: the created batch has no usable name", provider=self.name)
        return name

    async def _upload(self, payload: bytes) -> str:
        start = _wire.SecretHeaders({
            "x-goog-api-key": self._secret.get(),
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": str(len(payload)),
            "x-goog-upload-header-content-type": "application/jsonl",
            "content-type": "application/json",
        })  # fmt: skip
        url = f"{self._base}/upload/{self._version}/files"
        body = _wire.dumps({"file": {"display_name": "genguard-batch"}})
        raw = await self._raw("POST", url, body, start)
        upload_url = raw.header("x-goog-upload-url")
        if not upload_url or not upload_url.startswith(self._base + "/"):
            raise ResponseError("gemini: the upload answer has no usable upload URL",
                                provider=self.name)  # fmt: skip
        finish = _wire.SecretHeaders({
            "x-goog-api-key": self._secret.get(),
            "x-goog-upload-command": "upload, finalize",
            "x-goog-upload-offset": "0",
        })  # fmt: skip
        raw = await self._raw("POST", upload_url, payload, finish)
        data = _loads(raw)
        file = data.get("file")
        name = safe_id(file.get("name")) if isinstance(file, dict) else None
        if name is None:
            raise ResponseError("gemini: the uploaded file has no name", provider=self.name)
        return name

    async def status(self, batch_id: str) -> RemoteStatus:
        return _status(await self._get(batch_id))

    async def _get(self, batch_id: str) -> dict[str, Any]:
        return await self._request("GET", f"{self._base}/{self._version}/{batch_id}", None)

    async def results(
        self, batch_id: str, status: RemoteStatus, calls: dict[str, Call]
    ) -> list[tuple[str, LineResult]]:
        data = await self._get(batch_id)
        output = data.get("response")
        if not isinstance(output, dict):
            meta = data.get("metadata")
            output = meta.get("output") if isinstance(meta, dict) else None
        if not isinstance(output, dict):
            return []
        items: list[Any] = []
        inlined = output.get("inlinedResponses")
        if isinstance(inlined, dict) and isinstance(inlined.get("inlinedResponses"), list):
            for item in inlined["inlinedResponses"]:
                if isinstance(item, dict):
                    meta = item.get("metadata")
                    key = meta.get("key") if isinstance(meta, dict) else None
                    items.append({**item, "key": key})
        file_name = safe_id(output.get("responsesFile"))
        if file_name is not None:
            url = f"{self._base}/download/{self._version}/{file_name}:download?alt=media"
            raw = await self._raw("GET", url, None, self._headers)
            items.extend(_wire.try_loads(line) for line in raw.body.splitlines() if line.strip())
        out: list[tuple[str, LineResult]] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            key = item.get("key")
            if not isinstance(key, str) or key not in calls:
                continue
            out.append((key, self._line(item, calls[key])))
        return out

    def _line(self, item: dict[str, Any], call: Call) -> LineResult:
        response = item.get("response")
        if isinstance(response, dict):
            try:
                return self.provider.parse_result(
                    RawResponse(200, {}, _wire.dumps(response), 0.0), call
                )
            except GenGuardError as refused:
                return refused
        failure = item.get("error")
        code = _wire.lenient_int(failure.get("code")) if isinstance(failure, dict) else None
        status = code if code is not None and 400 <= code <= 599 else 500
        raw = RawResponse(status, {}, _wire.dumps({"error": failure}), 0.0)
        return google_error(
            raw, provider=self.name, api_key=self._secret.get(), now=self.clock.wall()
        )

    async def _raw(
        self, method: str, url: str, body: bytes | None, headers: Any = None
    ) -> RawResponse:
        raw = await self.transport.request(
            method, url, headers=headers or self._headers, body=body, provider=self.name
        )
        if not 200 <= raw.status < 300:
            raise google_error(
                raw, provider=self.name, api_key=self._secret.get(), now=self.clock.wall()
            )
        return raw

    async def _request(self, method: str, url: str, body: bytes | None) -> dict[str, Any]:
        return _loads(await self._raw(method, url, body))


def _loads(raw: RawResponse) -> dict[str, Any]:
    with _wire.response_errors("gemini", raw.status, None):
        return _wire.as_dict(_wire.loads(raw.body), "body")


def _status(data: dict[str, Any]) -> RemoteStatus:
    meta = data.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    state = _wire.lenient_str(meta.get("state")) or "BATCH_STATE_UNSPECIFIED"
    stats = meta.get("batchStats")
    stats = stats if isinstance(stats, dict) else {}
    outcome = _OUTCOMES.get(state, "running")
    if data.get("done") is True and outcome == "running":
        outcome = "failed" if data.get("error") else "completed"
    error = data.get("error")
    message = _wire.lenient_str(error.get("message")) if isinstance(error, dict) else None
    return RemoteStatus(
        state=state,
        outcome=outcome,
        total=_wire.lenient_int(stats.get("requestCount")) or 0,
        succeeded=_wire.lenient_int(stats.get("successfulRequestCount")) or 0,
        failed=_wire.lenient_int(stats.get("failedRequestCount")) or 0,
        message=message,
    )


__all__ = ["INLINE_LIMIT", "GeminiBatchAPI"]
