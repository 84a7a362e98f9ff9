"""OpenAI Images (``/v1/images/generations`` and ``/v1/images/edits``): build, send, map.

A thin adapter. Generations go as JSON, edits (any request with input images) as
multipart with ``image`` / ``image[]`` and an optional ``mask``. Every response
becomes a ``GenerationResult`` or one typed error; the class is decided by
``error.code``/``error.type`` first and the status second, because OpenAI sends
both real rate limits and exhausted billing quotas as 429.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from ..catalogue.policy import CataloguePolicy
from ..catalogue.validate import RequestValidator
from ..errors import (
    AuthenticationError,
    BadRequest,
    ContentBlocked,
    GenGuardError,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
)
from ..keys import ApiKey, key_text
from ..model import Call, GenerationRequest, GenerationResult, Image, RateLimitInfo, Usage
from ..safety.categories import OPENAI_BLOCK_CODES, openai_category
from . import _wire
from .hints import header_int, parse_go_duration, retry_hint_from_headers
from .options import check_options
from .transport import HttpTransport, RawResponse

if TYPE_CHECKING:
    from .event_stream import StreamProgress

DEFAULT_BASE_URL = "https://api.openai.com"
DEFAULT_MODEL = "gpt-image-1"

#: Error codes (or types) that mean a billing quota is used up: never retried.
QUOTA_CODES = frozenset({"insufficient_quota", "credit_balance_exhausted"})

#: ``request.options`` keys passed through to the API as form/JSON fields.
PASSTHROUGH_OPTIONS: tuple[str, ...] = (
    "quality",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "style",
    "response_format",
    "input_fidelity",
    "user",
)
#: Every ``request.options`` name this provider reads; any other is an InvalidRequest.
OPENAI_OPTIONS = frozenset({*PASSTHROUGH_OPTIONS, "mask", "partial_images"})
_EDIT_SKIPS = frozenset({"moderation", "style"})  # generation-only parameters
_GENERATE_SKIPS = frozenset({"input_fidelity"})  # edit-only parameter
_MIME_BY_FORMAT = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
#: Codes matched on: kept intact in error fields (see ``_wire.wire_code``).
_KNOWN_CODES = frozenset(OPENAI_BLOCK_CODES) | QUOTA_CODES
_EXT_BY_MIME = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
_NO_HEADERS: Mapping[str, str] = {}
_RATELIMIT_NAMES = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)


def rate_limit_info(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """``x-ratelimit-*`` headers as a ``RateLimitInfo`` (reset in seconds), or None if absent."""
    if not any(name in headers for name in _RATELIMIT_NAMES):
        return None
    return RateLimitInfo(
        limit_requests=header_int(headers, "x-ratelimit-limit-requests"),
        remaining_requests=header_int(headers, "x-ratelimit-remaining-requests"),
        reset_requests=parse_go_duration(headers.get("x-ratelimit-reset-requests")),
        limit_tokens=header_int(headers, "x-ratelimit-limit-tokens"),
        remaining_tokens=header_int(headers, "x-ratelimit-remaining-tokens"),
        reset_tokens=parse_go_duration(headers.get("x-ratelimit-reset-tokens")),
    )


def _size_for_ratio(ratio: str, model: str) -> str | None:
    """A supported ``size`` for an aspect ratio (OpenAI takes sizes, not ratios)."""
    parts = ratio.split(":")
    if len(parts) != 2 or not all(
        p.isascii() and p.strip().isdigit() and int(p) > 0 for p in parts
    ):
        return None
    value = int(parts[0]) / int(parts[1])
    if model.startswith("dall-e-2"):
        return "1024x1024"
    wide, tall = (
        ("1792x1024", "1024x1792")
        if model.startswith("dall-e-3")
        else (
            "1536x1024",
            "1024x1536",
        )
    )
    if value >= 1.2:
        return wide
    if value <= 1 / 1.2:
        return tall
    return "1024x1024"


@_wire.answered
def openai_error(
    raw: RawResponse, *, api_key: str, now: float, provider: str = "openai"
) -> GenGuardError:
    """Map a non-2xx OpenAI response to a typed error (code/type first, then status)."""
    status = raw.status
    headers = raw.headers
    request_id = _wire.wire_token(headers.get("x-request-id"), api_key)
    data = _wire.try_loads(raw.body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        text = _wire.provider_text(error.get("message"), api_key)
        # Classify on the raw values; redact only what is shown (never before matching).
        raw_code = _wire.lenient_str(error.get("code"))
        raw_kind = _wire.lenient_str(error.get("type"))
        code = _wire.wire_code(raw_code, _KNOWN_CODES, api_key)
        kind = _wire.wire_code(raw_kind, _KNOWN_CODES, api_key)
        param = _wire.wire_token(error.get("param"), api_key)
        details = error.get("moderation_details")
    else:
        text = _wire.snippet(raw.body, api_key) if data is None else ""
        code = kind = param = raw_code = raw_kind = None
        details = None
    label = code or kind
    what = f"{provider}: HTTP {status}" + (f" {label}" if label else "")
    message = f"{what}: {text}" if text else what
    common: dict[str, Any] = {"status": status, "code": code or kind, "request_id": request_id}

    if raw_code in OPENAI_BLOCK_CODES:
        stage, categories = "input", []
        if isinstance(details, dict):
            if details.get("moderation_stage") == "output":
                stage = "output"
            found = details.get("categories")
            categories = [c for c in found if isinstance(c, str)] if isinstance(found, list) else []
        return ContentBlocked(
            message,
            stage="output" if stage == "output" else "input",
            category=openai_category(code, categories),
            source="provider",
            reason=code,
            provider=provider,
            status=status,
            request_id=request_id,
        )
    if raw_code in QUOTA_CODES or raw_kind in QUOTA_CODES:
        return QuotaExhausted(message, provider=provider, **common)
    hint = retry_hint_from_headers(headers, now)
    hinted: dict[str, Any] = {}
    if hint is not None:
        hinted = {"retry_after": hint.seconds, "hint_source": hint.source}
    err: GenGuardError
    if status == 429:
        limited = RateLimited(message, provider=provider, **common, **hinted)
        limited.rate_limit = rate_limit_info(headers)
        return limited
    if status in (401, 403):
        err = AuthenticationError(message, provider=provider, **common)
    elif status in (408, 409) or 500 <= status <= 599:
        err = ProviderUnavailable(message, provider=provider, **common, **hinted)
    elif status in (400, 404, 413, 415, 422):
        err = BadRequest(message, provider=provider, **common)
    else:
        err = ProviderError(message, provider=provider, **common, **hinted)
    if isinstance(err, ProviderError):
        err.param = param
    return err


class OpenAIProvider:
    """OpenAI image generation and editing (GPT image models and dall-e).

    ``quality``, ``output_format`` and ``moderation`` are sent on every request when
    set (``request.options`` can override them per call, along with ``background``,
    ``output_compression``, ``style``, ``response_format``, ``input_fidelity``,
    ``user``, and ``mask`` for edits). The key travels only in ``Authorization``
    and never appears in a repr or message.
    """

    name = "openai"

    def __init__(
        self,
        api_key: ApiKey,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        organization: str | None = None,
        project: str | None = None,
        quality: str | None = None,
        output_format: str | None = None,
        moderation: str | None = None,
        catalogue: CataloguePolicy | None = None,
    ) -> None:
        api_key = key_text(api_key)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.organization = organization
        self.project = project
        self.quality = quality
        self.output_format = output_format
        self.moderation = moderation
        self._key = _wire.Secret(api_key)
        auth = _wire.SecretHeaders({"authorization": f"Bearer {api_key}"})
        if organization:
            auth["openai-organization"] = organization
        if project:
            auth["openai-project"] = project
        self._auth_headers = auth
        self._json_headers = _wire.SecretHeaders({**auth, "content-type": "application/json"})
        self._generations_url = f"{self.base_url}/v1/images/generations"
        self._edits_url = f"{self.base_url}/v1/images/edits"
        defaults = {"quality": quality, "output_format": output_format, "moderation": moderation}
        self._defaults = {k: v for k, v in defaults.items() if v is not None}
        self._validator = RequestValidator(self.name, catalogue)
        self._today = _wire.UtcDay()

    def _params(
        self, request: GenerationRequest, model: str, skip: frozenset[str]
    ) -> dict[str, Any]:
        check_options(self.name, request.options, OPENAI_OPTIONS)
        params: dict[str, Any] = {}
        size = request.size
        if size is None and request.aspect_ratio:
            size = _size_for_ratio(request.aspect_ratio, model)
        if size is not None:
            params["size"] = size
        options = request.options
        for key in PASSTHROUGH_OPTIONS:
            if key in skip:
                continue
            value = (
                options.get(key, self._defaults.get(key)) if options else self._defaults.get(key)
            )
            if value is not None:
                params[key] = value
        return params

    def build_json(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        """The ``/v1/images/generations`` JSON body."""
        return {
            "model": model,
            "prompt": request.prompt,
            "n": request.n,
            **self._params(request, model, _GENERATE_SKIPS),
        }

    def build_form(self, request: GenerationRequest, model: str) -> aiohttp.FormData:
        """The ``/v1/images/edits`` multipart form (one ``image`` or several ``image[]``)."""
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("model", model)
        form.add_field("prompt", request.prompt)
        field = "image" if len(request.images) == 1 else "image[]"
        for index, image in enumerate(request.images):
            ext = _EXT_BY_MIME.get(image.mime_type, "bin")
            form.add_field(
                field, image.data, filename=f"image-{index}.{ext}", content_type=image.mime_type
            )
        mask = request.options.get("mask") if request.options else None
        if mask is not None:
            if isinstance(mask, bytes | bytearray):
                mask = Image(bytes(mask))
            if not isinstance(mask, Image):
                raise InvalidRequest(
                    "openai: options['mask'] must be an Image or PNG bytes", field="options.mask"
                )
            form.add_field("mask", mask.data, filename="mask.png", content_type=mask.mime_type)
        for key, value in self._params(request, model, _EDIT_SKIPS).items():
            form.add_field(key, str(value))
        form.add_field("n", str(request.n))
        return form

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        request = call.request
        model = call.model
        self.check(call)
        body: bytes | aiohttp.FormData
        if request.images:
            url = self._edits_url
            body = self.build_form(request, model)
            headers = self._auth_headers
        else:
            url = self._generations_url
            body = _wire.dumps(self.build_json(request, model))
            headers = self._json_headers
        if request.idempotency_key:
            headers = _wire.SecretHeaders({**headers, "idempotency-key": request.idempotency_key})
        raw = await transport.request("POST", url, headers=headers, body=body, provider=self.name)
        if not 200 <= raw.status < 300:
            raise openai_error(
                raw, api_key=self._key.get(), now=call.clock.wall(), provider=self.name
            )
        parsed = self.parse_images(raw)
        images = [
            item if isinstance(item, Image) else await self._download(item, transport, raw, parsed)
            for item in parsed.items
        ]
        return GenerationResult(
            images=tuple(images),
            generation_id=call.generation_id,
            provider=self.name,
            model=model,
            usage=parsed.usage,
            request_id=parsed.request_id,
            rate_limit=rate_limit_info(raw.headers),
            revised_prompt=parsed.revised_prompt,
        )

    def check(self, call: Call, *, stream: bool = False) -> None:
        """Refuse locally what the model cannot serve (the model catalogue's entry)."""
        defaults = {**self._defaults, "stream": True} if stream else self._defaults
        self._validator.check(
            call.request, call.model, today=self._today(call.clock.wall()), defaults=defaults
        )

    async def stream(
        self, call: Call, transport: HttpTransport, progress: StreamProgress
    ) -> GenerationResult:
        """One attempt with ``stream: true``: partial images to ``progress``, then the result."""
        from .openai_stream import stream_openai

        self.check(call, stream=True)
        return await stream_openai(self, call, transport, progress)

    def parse_images(self, raw: RawResponse) -> ParsedImages:
        """Read a 2xx images body: decoded ``b64_json`` images, or ``url`` strings to fetch."""
        request_id = _wire.wire_token(raw.headers.get("x-request-id"), self._key.get())
        with _wire.response_errors(self.name, raw.status, request_id):
            data = _wire.as_dict(_wire.loads(raw.body), "body")
            items = _wire.as_list(data.get("data"), "data")
            if not items:
                raise _wire.WireError("data is an empty array (no images)")
            fmt = _wire.lenient_str(data.get("output_format")) or self.output_format or "png"
            mime = _MIME_BY_FORMAT.get(fmt, "image/png")
            out: list[Image | str] = []
            revised: str | None = None
            for index, item in enumerate(items):
                entry = item if isinstance(item, dict) else _wire.as_dict(item, f"data[{index}]")
                revised = revised or _wire.lenient_str(entry.get("revised_prompt"))
                b64 = entry.get("b64_json")
                if b64 is not None:
                    try:  # the field's path is only built for a message
                        decoded = _wire.b64decode(b64, "b64_json")
                    except _wire.WireError:
                        decoded = _wire.b64decode(b64, f"data[{index}].b64_json")
                    out.append(Image(decoded, mime))
                    continue
                where = f"data[{index}]"
                url = _wire.opt_str(entry, "url", where)
                if not url:
                    raise _wire.WireError(f"{where} has neither b64_json nor url")
                if not url.startswith(("https://", "http://")):
                    raise _wire.WireError(f"{where}.url is not an http(s) URL")
                out.append(url)
            return ParsedImages(out, _usage(data.get("usage"), len(out)), revised, request_id, mime)

    async def _download(
        self, url: str, transport: HttpTransport, raw: RawResponse, parsed: ParsedImages
    ) -> Image:
        """Fetch a dall-e ``url`` image (no credentials sent; same body cap)."""
        got = await transport.request("GET", url, headers=_NO_HEADERS, provider=self.name)
        what = f"{self.name}: downloading a generated image failed (HTTP {got.status})"
        if got.status >= 500 or got.status in (408, 429):
            raise ProviderUnavailable(
                what, status=got.status, code="image_download", provider=self.name,
                request_id=parsed.request_id,
            )  # fmt: skip
        if got.status != 200 or not got.body:
            raise ResponseError(
                what if got.body else f"{self.name}: generated image URL returned an empty body",
                status=got.status,
                provider=self.name,
                request_id=parsed.request_id,
            )
        content_type = (got.headers.get("content-type") or "").split(";", 1)[0].strip()
        mime = content_type if content_type.startswith("image/") else parsed.mime
        return Image(got.body, mime)

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, base_url={self.base_url!r})"


class ParsedImages:
    """A parsed images body before any ``url`` downloads."""

    __slots__ = ("items", "mime", "request_id", "revised_prompt", "usage")

    def __init__(
        self,
        items: list[Image | str],
        usage: Usage,
        revised_prompt: str | None,
        request_id: str | None,
        mime: str,
    ) -> None:
        self.items = items
        self.usage = usage
        self.revised_prompt = revised_prompt
        self.request_id = request_id
        self.mime = mime


def _usage(usage: object, images: int) -> Usage:
    """``usage`` with input and output split into text and image tokens; without a
    ``usage`` object (dall-e), the image count a per-image price applies to."""
    if not isinstance(usage, dict):
        return Usage(images=images)
    inputs = usage.get("input_tokens_details")
    inputs = inputs if isinstance(inputs, dict) else {}
    outputs = usage.get("output_tokens_details")
    outputs = outputs if isinstance(outputs, dict) else {}
    return Usage(
        input_tokens=_wire.lenient_int(usage.get("input_tokens")),
        output_tokens=_wire.lenient_int(usage.get("output_tokens")),
        total_tokens=_wire.lenient_int(usage.get("total_tokens")),
        image_tokens=_wire.lenient_int(outputs.get("image_tokens")),
        input_text_tokens=_wire.lenient_int(inputs.get("text_tokens")),
        input_image_tokens=_wire.lenient_int(inputs.get("image_tokens")),
        output_text_tokens=_wire.lenient_int(outputs.get("text_tokens")),
        cached_tokens=_wire.lenient_int(inputs.get("cached_tokens")),
        images=images,
    )


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "PASSTHROUGH_OPTIONS",
    "QUOTA_CODES",
    "OpenAIProvider",
    "ParsedImages",
    "openai_error",
    "rate_limit_info",
]
