"""Gemini ``generateContent`` with image output: request building and response mapping.

A thin adapter: the request is built from the ``GenerationRequest`` (history parts
echoed exactly as received, so thought signatures survive), sent through the
shared transport, and every response becomes a ``GenerationResult`` or one typed
error. Gemini reports blocks inside HTTP 200 bodies, and its retry hints inside
the ``google.rpc.Status`` error body, so both are read here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..catalogue.policy import CataloguePolicy
from ..catalogue.validate import RequestValidator
from ..errors import (
    AuthenticationError,
    BadRequest,
    ContentBlocked,
    GenGuardError,
    InvalidRequest,
    NoImageGenerated,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
    names_daily_quota,
)
from ..keys import ApiKey, key_text
from ..model import Call, GenerationRequest, GenerationResult, Image, Part, Turn, Usage
from ..request_checks import check_model_name
from ..safety.categories import gemini_category
from . import _wire
from .hints import (
    SOURCE_RETRY_IN_MESSAGE,
    SOURCE_RETRY_INFO,
    RetryHint,
    parse_proto_duration,
    parse_retry_in_message,
    retry_hint_from_headers,
)
from .options import check_options
from .transport import HttpTransport, RawResponse

if TYPE_CHECKING:
    from .event_stream import StreamProgress

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "gemini-2.5-flash-image"
#: Every ``request.options`` name this provider reads; any other is an InvalidRequest.
GEMINI_OPTIONS = frozenset({"image_size"})

#: Aspect ratios the Gemini image models accept (``imageConfig.aspectRatio``).
ASPECT_RATIOS: tuple[str, ...] = (
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
)  # fmt: skip
#: ``imageConfig.imageSize`` values (Gemini 3 image models; 512 on 3.1 Flash Image).
IMAGE_SIZES: tuple[str, ...] = ("512", "1K", "2K", "4K")
#: API versions the provider can call (google-genai 3.x uses v1 by default).
API_VERSIONS: tuple[str, ...] = ("v1beta", "v1")

#: Candidate finish reasons that mean the provider refused the output.
BLOCK_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)
#: Finish reasons without an image where a second try can plausibly succeed.
RETRYABLE_NO_IMAGE_REASONS = frozenset({"NO_IMAGE", "IMAGE_OTHER", "OTHER"})

#: Prompt-level ``blockReason`` values.
PROMPT_BLOCK_REASONS = frozenset(
    {
        "SAFETY",
        "OTHER",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "IMAGE_SAFETY",
        "BLOCK_REASON_UNSPECIFIED",
    }
)
BLOCK_REASONS = BLOCK_FINISH_REASONS | PROMPT_BLOCK_REASONS
#: Finish reasons kept intact in results and errors (matched on; see ``_wire.wire_code``).
FINISH_REASONS = (
    BLOCK_FINISH_REASONS
    | RETRYABLE_NO_IMAGE_REASONS
    | frozenset({"STOP", "MAX_TOKENS", "FINISH_REASON_UNSPECIFIED", "LANGUAGE", "NO_IMAGE"})
)
#: ``google.rpc`` reasons and statuses kept intact (``API_KEY_INVALID`` is matched on).
GOOGLE_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "PERMISSION_DENIED",
        "NOT_FOUND",
        "RESOURCE_EXHAUSTED",
        "UNAVAILABLE",
        "INTERNAL",
        "DEADLINE_EXCEEDED",
        "UNAUTHENTICATED",
        "RATE_LIMIT_EXCEEDED",
    }
)

SafetySettings = Mapping[str, str] | Sequence[Mapping[str, str]]
_NO_DEFAULTS: Mapping[str, Any] = {}  # read only


def _rpc_type(detail: Mapping[str, Any]) -> str:
    kind = detail.get("@type")
    return kind.rsplit(".", 1)[-1] if isinstance(kind, str) else ""


@dataclass(frozen=True, slots=True)
class GoogleStatus:
    """The parts of a ``google.rpc.Status`` error body a caller acts on."""

    message: str
    status: str | None
    reason: str | None  # ErrorInfo.reason, e.g. API_KEY_INVALID
    retry_delay: float | None  # RetryInfo.retryDelay, seconds
    quota_ids: tuple[str, ...]

    @classmethod
    def parse(cls, body: bytes, *secrets: str | None) -> GoogleStatus:
        """Read the envelope (object, one-element array, or a non-JSON page) leniently."""
        data = _wire.try_loads(body)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            text = _wire.snippet(body, *secrets) if data is None else ""
            return cls(text, None, None, None, ())
        reason: str | None = None
        retry_delay: float | None = None
        quota_ids: list[str] = []
        details = error.get("details")
        for detail in details if isinstance(details, list) else ():
            if not isinstance(detail, dict):
                continue
            kind = _rpc_type(detail)
            if kind == "RetryInfo":
                retry_delay = parse_proto_duration(detail.get("retryDelay"))
            elif kind == "ErrorInfo" and isinstance(detail.get("reason"), str):
                reason = _wire.wire_code(detail["reason"], GOOGLE_REASONS, *secrets)
            elif kind == "QuotaFailure":
                violations = detail.get("violations")
                for violation in violations if isinstance(violations, list) else ():
                    if isinstance(violation, dict) and len(quota_ids) < 16:
                        quota = _wire.wire_token(violation.get("quotaId"), *secrets)
                        if quota is not None:
                            quota_ids.append(quota)
        return cls(
            message=_wire.provider_text(error.get("message"), *secrets),
            status=_wire.wire_code(error.get("status"), GOOGLE_REASONS, *secrets),
            reason=reason,
            retry_delay=retry_delay,
            quota_ids=tuple(quota_ids),
        )


@_wire.answered
def google_error(raw: RawResponse, *, provider: str, api_key: str, now: float) -> GenGuardError:
    """Map a non-2xx Google API response to a typed error (shared with Imagen)."""
    status = raw.status
    rpc = GoogleStatus.parse(raw.body, api_key)
    code = rpc.reason or rpc.status
    what = f"{provider}: HTTP {status}" + (f" {rpc.status}" if rpc.status else "")
    message = f"{what}: {rpc.message}" if rpc.message else what
    common: dict[str, Any] = {"status": status, "code": code, "provider": provider}
    header_hint = retry_hint_from_headers(raw.headers, now)

    if status == 429:
        if any(names_daily_quota(quota) for quota in rpc.quota_ids):
            spent = QuotaExhausted(message, retry_after=rpc.retry_delay, **common)
            spent.quota_ids = rpc.quota_ids
            return spent
        hint = _rate_limit_hint(rpc, header_hint)
        limited = RateLimited(
            message,
            retry_after=hint.seconds if hint else None,
            hint_source=hint.source if hint else None,
            **common,
        )
        limited.quota_ids = rpc.quota_ids
        return limited
    if status == 400:
        if rpc.reason == "API_KEY_INVALID":
            return AuthenticationError(message, **common)
        return BadRequest(message, **common)
    if status in (401, 403):
        return AuthenticationError(message, **common)
    if status == 404:
        return BadRequest(message, **common)
    if status == 402:
        return QuotaExhausted(message, **common)
    hinted: dict[str, Any] = {}
    if header_hint is not None:
        hinted = {"retry_after": header_hint.seconds, "hint_source": header_hint.source}
    elif rpc.retry_delay is not None:
        hinted = {"retry_after": rpc.retry_delay, "hint_source": SOURCE_RETRY_INFO}
    if status in (408, 409) or 500 <= status <= 599:
        return ProviderUnavailable(message, **common, **hinted)
    return ProviderError(message, **common, **hinted)


def _rate_limit_hint(rpc: GoogleStatus, header_hint: RetryHint | None) -> RetryHint | None:
    if rpc.retry_delay is not None:
        return RetryHint(rpc.retry_delay, SOURCE_RETRY_INFO)
    in_message = parse_retry_in_message(rpc.message)
    if in_message is not None:
        return RetryHint(in_message, SOURCE_RETRY_IN_MESSAGE)
    return header_hint


def _blocked_harms(ratings: object) -> list[str]:
    """Harm categories marked ``blocked: true`` in a ``safetyRatings`` array."""
    if not isinstance(ratings, list):
        return []
    return [
        r["category"]
        for r in ratings
        if isinstance(r, dict) and r.get("blocked") is True and isinstance(r.get("category"), str)
    ]


def _part_json(part: Part, where: str) -> dict[str, Any]:
    """A history part as Gemini expects it, with the original base64 and signature."""
    if part.extra is not None:
        return dict(part.extra)
    out: dict[str, Any] = {}
    has_image = part.raw_data is not None or part.image is not None
    if part.text is not None:
        if has_image:
            raise InvalidRequest(
                f"gemini: {where} has both text and an image; split it in two parts",
                field=where,
            )
        out["text"] = part.text
    elif has_image:
        mime = part.image.mime_type if part.image is not None else "image/png"
        data = part.raw_data
        if data is None:
            assert part.image is not None
            data = base64.b64encode(part.image.data).decode("ascii")
        out["inlineData"] = {"mimeType": mime, "data": data}
    if part.thought:
        out["thought"] = True
    if part.thought_signature is not None:
        out["thoughtSignature"] = part.thought_signature
    return out


def _image_part(image: Image) -> dict[str, Any]:
    data = base64.b64encode(image.data).decode("ascii")
    return {"inlineData": {"mimeType": image.mime_type, "data": data}}


class GeminiProvider:
    """Gemini image generation and editing through ``models/{model}:generateContent``.

    ``safety_settings`` is sent as ``safetySettings`` (a ``{category: threshold}``
    mapping or a list of ``{"category", "threshold"}``); it does not govern the
    image-output filters. ``image_size`` (``"1K"|"2K"|"4K"``) is for Gemini 3 image
    models only; leave it None for ``gemini-2.5-flash-image``. The key travels only
    in the ``x-goog-api-key`` header and never appears in a repr or message.
    """

    name = "gemini"

    def __init__(
        self,
        api_key: ApiKey,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        safety_settings: SafetySettings | None = None,
        response_modalities: Sequence[str] = ("TEXT", "IMAGE"),
        image_size: str | None = None,
        api_version: str = "v1beta",
        catalogue: CataloguePolicy | None = None,
    ) -> None:
        api_key = key_text(api_key)
        if image_size is not None and image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {', '.join(IMAGE_SIZES)}")
        if api_version not in API_VERSIONS:
            raise ValueError(f"api_version must be one of {', '.join(API_VERSIONS)}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.image_size = image_size
        self.response_modalities = tuple(response_modalities)
        self.safety_settings = _normalise_safety(safety_settings)
        self._key = _wire.Secret(api_key)
        self._headers = _wire.SecretHeaders(
            {"x-goog-api-key": api_key, "content-type": "application/json"}
        )
        self._urls: dict[str, str] = {}
        self._validator = RequestValidator(self.name, catalogue)
        self._today = _wire.UtcDay()

    def url_for(self, model: str) -> str:
        url = self._urls.get(model)
        if url is None:
            name = quote(check_model_name(model).removeprefix("models/"), safe="")
            url = f"{self.base_url}/{self.api_version}/models/{name}:generateContent"
            if len(self._urls) < 64:
                self._urls[model] = url
        return url

    def build_body(self, request: GenerationRequest, model: str | None = None) -> dict[str, Any]:
        """The ``generateContent`` JSON body for ``request`` (history, new turn, config).

        ``model`` picks the aspect ratios a ``WxH`` size is mapped to (the catalogue's
        list for that model; the common list otherwise).
        """
        check_options(self.name, request.options, GEMINI_OPTIONS)
        contents: list[dict[str, Any]] = [
            {
                "role": turn.role,
                "parts": [
                    _part_json(part, f"history[{t}].parts[{p}]")
                    for p, part in enumerate(turn.parts)
                ],
            }
            for t, turn in enumerate(request.history)
        ]
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        parts.extend(_image_part(image) for image in request.images)
        contents.append({"role": "user", "parts": parts})

        config: dict[str, Any] = {"responseModalities": list(self.response_modalities)}
        if request.n > 1:
            config["candidateCount"] = request.n
        image_config = self._image_config(request, model or self.model)
        if image_config:
            config["imageConfig"] = image_config
        if request.seed is not None:
            config["seed"] = request.seed
        body: dict[str, Any] = {"contents": contents, "generationConfig": config}
        if self.safety_settings:
            body["safetySettings"] = self.safety_settings
        tier = request.options.get("service_tier") if request.options else None
        if tier is not None:
            body["serviceTier"] = tier
        return body

    def _image_config(self, request: GenerationRequest, model: str) -> dict[str, str]:
        config: dict[str, str] = {}
        image_size = (request.options.get("image_size") if request.options else None) or (
            self.image_size
        )
        size = request.size
        if size and size != "auto":
            if size.upper() in IMAGE_SIZES:
                image_size = size.upper()
            else:
                dims = _wire.parse_size(size)
                if dims is None:
                    raise InvalidRequest(
                        f"gemini: size {size!r} is neither WIDTHxHEIGHT nor "
                        f"one of {', '.join(IMAGE_SIZES)}",
                        field="size",
                        value=size,
                        allowed=(*IMAGE_SIZES, "WIDTHxHEIGHT"),
                    )
                spec = self._validator.policy.catalogue.get(model)
                ratios = (
                    spec.capabilities.aspect_ratios
                    if spec and spec.capabilities.aspect_ratios
                    else ASPECT_RATIOS
                )
                config["aspectRatio"] = _wire.nearest_ratio(*dims, ratios)
        if request.aspect_ratio:  # an explicit ratio wins over one read from WxH
            config["aspectRatio"] = request.aspect_ratio
        if image_size:
            config["imageSize"] = image_size
        return config

    def check(self, call: Call, *, stream: bool = False) -> None:
        """Refuse locally what the model cannot serve (the model catalogue's entry)."""
        defaults: Mapping[str, Any] = (
            {"image_size": self.image_size} if self.image_size else _NO_DEFAULTS
        )
        if stream:
            defaults = {**defaults, "stream": True}
        self._validator.check(
            call.request, call.model, today=self._today(call.clock.wall()), defaults=defaults
        )

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        self.check(call)
        body = _wire.dumps(self.build_body(call.request, call.model))
        raw = await transport.request(
            "POST", self.url_for(call.model), headers=self._headers, body=body, provider=self.name
        )
        if 200 <= raw.status < 300:
            return self.parse_result(raw, call)
        raise google_error(raw, provider=self.name, api_key=self._key.get(), now=call.clock.wall())

    async def stream(
        self, call: Call, transport: HttpTransport, progress: StreamProgress
    ) -> GenerationResult:
        """One attempt on ``streamGenerateContent``: thought images to ``progress``, then
        the merged result."""
        from .gemini_stream import stream_gemini

        self.check(call, stream=True)
        return await stream_gemini(self, call, transport, progress)

    def parse_result(self, raw: RawResponse, call: Call) -> GenerationResult:
        """Map a 2xx body to a result, a ``ContentBlocked`` or a typed no-image error."""
        with _wire.response_errors(self.name, raw.status, None):
            data = _wire.as_dict(_wire.loads(raw.body), "body")
            try:
                return _GenerateResponse(self, raw, call, data).result()
            except GenGuardError as error:  # a 200 without an image was still billed
                if error.billing is None:
                    error.billing = "billed"
                    error.usage = _usage(data.get("usageMetadata"))
                raise

    def __repr__(self) -> str:
        return f"GeminiProvider(model={self.model!r}, base_url={self.base_url!r})"


def _normalise_safety(settings: SafetySettings | None) -> list[dict[str, str]]:
    if not settings:
        return []
    if isinstance(settings, Mapping):
        return [{"category": c, "threshold": t} for c, t in settings.items()]
    out = []
    for entry in settings:
        if not isinstance(entry, Mapping) or not {"category", "threshold"} <= entry.keys():
            raise ValueError("safety_settings entries need 'category' and 'threshold'")
        out.append({"category": str(entry["category"]), "threshold": str(entry["threshold"])})
    return out


class _GenerateResponse:
    """One 2xx body being read; split out so each step names the field it checks."""

    __slots__ = ("call", "data", "provider", "raw", "request_id")

    def __init__(
        self, provider: GeminiProvider, raw: RawResponse, call: Call, data: dict[str, Any]
    ) -> None:
        self.provider = provider
        self.raw = raw
        self.call = call
        self.data = data
        self.request_id = _wire.wire_token(data.get("responseId"), provider._key.get())

    def result(self) -> GenerationResult:
        data = self.data
        feedback = _wire.opt_dict(data, "promptFeedback", "body")
        block_reason = (
            _wire.opt_str(feedback, "blockReason", "promptFeedback") if feedback else None
        )
        if block_reason:
            assert feedback is not None
            raise self._blocked("input", block_reason, feedback.get("safetyRatings"), feedback)
        candidates = _wire.opt_list(data, "candidates", "body") or []
        if not candidates:
            raise ResponseError(
                "gemini: HTTP 200 with no candidates and no promptFeedback.blockReason",
                status=self.raw.status,
                provider=self.provider.name,
                request_id=self.request_id,
            )
        parsed = [_Candidate.parse(c, i) for i, c in enumerate(candidates)]
        chosen: _Candidate | None = None
        images: list[Image] = []
        for candidate in parsed:
            if candidate.reason not in BLOCK_FINISH_REASONS:
                if chosen is None and candidate.images:
                    chosen = candidate
                images += candidate.images
        if chosen is None:
            raise self._no_image(parsed)
        key = self.provider._key.get()
        model = _wire.wire_token(data.get("modelVersion"), key) or self.call.model
        return GenerationResult(
            tuple(images),
            self.call.generation_id,
            self.provider.name,
            model,
            chosen.text,
            self.call.request.seed,
            usage=_usage(data.get("usageMetadata")),
            finish_reason=_wire.wire_code(chosen.reason, FINISH_REASONS, key),
            parts=chosen.parts,
            request_id=self.request_id,
        )

    def _no_image(self, parsed: list[_Candidate]) -> GenGuardError:
        for candidate in parsed:
            if candidate.reason in BLOCK_FINISH_REASONS:
                assert candidate.reason is not None
                return self._blocked(
                    "output",
                    candidate.reason,
                    candidate.ratings,
                    {"blockReasonMessage": candidate.message},
                )
        first = parsed[0]
        key = self.provider._key.get()
        # Classify on the raw reason; only what is shown is redacted.
        reason = _wire.wire_code(first.reason, FINISH_REASONS, key)
        code = "NO_IMAGE" if first.reason in (None, "STOP") else reason
        text = f"gemini: no image in the response (finishReason {reason or 'missing'})"
        if first.text:
            text += f"; model said: {_wire.provider_text(first.text, key)!r}"
        if first.message:
            text += f" {_wire.provider_text(first.message, key)}"
        error = NoImageGenerated(
            text,
            status=self.raw.status,
            code=code,
            retryable=(first.reason or "STOP") in RETRYABLE_NO_IMAGE_REASONS | {"STOP"},
            request_id=self.request_id,
            provider=self.provider.name,
        )
        error.finish_reason = reason
        return error

    def _blocked(
        self, stage: str, reason: str, ratings: object, source: Mapping[str, Any]
    ) -> ContentBlocked:
        key = self.provider._key.get()
        harms = _blocked_harms(ratings)
        category = gemini_category(reason, harms)
        safe_reason = _wire.wire_code(reason, BLOCK_REASONS, key)
        what = "prompt" if stage == "input" else "output"
        text = f"gemini: {what} blocked by the provider ({safe_reason}"
        text += f", {_wire.provider_text(', '.join(harms), key)})" if harms else ")"
        message = _wire.provider_text(source.get("blockReasonMessage"), key)
        return ContentBlocked(
            f"{text}: {message}" if message else text,
            stage="input" if stage == "input" else "output",
            category=category,
            source="provider",
            reason=safe_reason,
            provider=self.provider.name,
            status=self.raw.status,
            request_id=self.request_id,
        )


@dataclass(slots=True)
class _Candidate:
    reason: str | None
    message: str | None
    ratings: object
    images: list[Image]
    parts: tuple[Part, ...]
    text: str | None

    @classmethod
    def parse(cls, candidate: object, index: int) -> _Candidate:
        """Candidate ``index`` of a body. Field paths for messages are only built when a
        field is wrong (the strict getter then raises with the full path)."""
        if not isinstance(candidate, dict):
            candidate = _wire.as_dict(candidate, f"candidates[{index}]")
        reason = candidate.get("finishReason")
        if reason is not None and not isinstance(reason, str):
            reason = _wire.opt_str(candidate, "finishReason", f"candidates[{index}]")
        content = candidate.get("content")
        raw_parts: list[Any] | None = None
        if content is not None:
            if not isinstance(content, dict):
                content = _wire.as_dict(content, f"candidates[{index}].content")
            raw_parts = content.get("parts")
            if raw_parts is not None and not isinstance(raw_parts, list):
                raw_parts = _wire.as_list(raw_parts, f"candidates[{index}].content.parts")
        parts: list[Part] = []
        images: list[Image] = []
        texts: list[str] = []
        for number, item in enumerate(raw_parts or ()):
            part = _parse_part(item, index, number)
            if part is None:
                continue
            parts.append(part)
            if part.thought:
                continue
            if part.image is not None:
                images.append(part.image)
            elif part.text:
                texts.append(part.text)
        message = candidate.get("finishMessage")
        return cls(
            reason=reason,
            message=message if isinstance(message, str) else None,
            ratings=candidate.get("safetyRatings"),
            images=images,
            parts=tuple(parts),
            text="".join(texts) if texts else None,
        )


#: Part keys a ``Part`` models; a part with any other key keeps its JSON in ``Part.extra``.
_MODELLED_PART_KEYS = frozenset(
    {"text", "inlineData", "inline_data", "thought", "thoughtSignature", "thought_signature"}
)


def _part_path(candidate: int, part: int) -> str:
    return f"candidates[{candidate}].content.parts[{part}]"


def _parse_part(item: object, candidate: int, number: int) -> Part | None:
    """One response part; kinds genguard does not model keep their JSON in ``extra``.

    The checks are inline so a well-formed part builds no path strings; a wrong field
    goes to the strict getter with its full path, which raises the documented message.
    """
    if not isinstance(item, dict):
        item = _wire.as_dict(item, _part_path(candidate, number))
    thought = item.get("thought") is True
    signature = item.get("thoughtSignature")
    if signature is not None and not isinstance(signature, str):
        signature = _wire.opt_str(item, "thoughtSignature", _part_path(candidate, number))
    if not item.keys() <= _MODELLED_PART_KEYS:
        text = _wire.lenient_str(item.get("text"))
        return Part(text=text, thought=thought, thought_signature=signature, extra=item)
    inline = item.get("inlineData")
    if inline is None:
        inline = item.get("inline_data")
    if inline is not None:
        if not isinstance(inline, dict):
            inline = _wire.as_dict(inline, f"{_part_path(candidate, number)}.inlineData")
        raw_data = inline.get("data")
        try:
            data = _wire.b64decode(raw_data, "inlineData.data")
        except _wire.WireError:  # again with the field's full path, for the message
            data = _wire.b64decode(raw_data, f"{_part_path(candidate, number)}.inlineData.data")
        assert isinstance(raw_data, str)
        mime = inline.get("mimeType")
        if mime is not None and not isinstance(mime, str):
            mime = _wire.opt_str(inline, "mimeType", f"{_part_path(candidate, number)}.inlineData")
        return Part(
            image=Image(data, mime or "image/png"),
            thought=thought,
            thought_signature=signature,
            raw_data=raw_data,
        )
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        text = _wire.opt_str(item, "text", _part_path(candidate, number))
    if text is None and signature is None:
        return None
    return Part(text=text, thought=thought, thought_signature=signature)


def _modalities(details: object) -> dict[str, int]:
    """``[{"modality": "IMAGE", "tokenCount": n}, ...]`` summed per modality."""
    counts: dict[str, int] = {}
    for entry in details if isinstance(details, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("modality"), str):
            count = _wire.lenient_int(entry.get("tokenCount"))
            if count is not None:
                counts[entry["modality"]] = counts.get(entry["modality"], 0) + count
    return counts


def _usage(meta: object) -> Usage:
    """``usageMetadata``: input and output per modality, thoughts, cache, traffic type."""
    if not isinstance(meta, dict):
        return Usage()
    prompt = _modalities(meta.get("promptTokensDetails"))
    output = _modalities(meta.get("candidatesTokensDetails"))
    return Usage(
        input_tokens=_wire.lenient_int(meta.get("promptTokenCount")),
        output_tokens=_wire.lenient_int(meta.get("candidatesTokenCount")),
        total_tokens=_wire.lenient_int(meta.get("totalTokenCount")),
        image_tokens=output.get("IMAGE"),
        input_text_tokens=prompt.get("TEXT") if prompt else None,
        input_image_tokens=prompt.get("IMAGE", 0) if prompt else None,
        output_text_tokens=output.get("TEXT", 0) if output else None,
        cached_tokens=_wire.lenient_int(meta.get("cachedContentTokenCount")),
        thoughts_tokens=_wire.lenient_int(meta.get("thoughtsTokenCount")),
        traffic_type=_wire.wire_token(meta.get("trafficType"), limit=40),
    )


def history_turn(result: GenerationResult) -> Turn:
    """The model turn of ``result``, ready to append to ``GenerationRequest.history``."""
    return Turn(role="model", parts=result.parts)


__all__ = [
    "API_VERSIONS",
    "ASPECT_RATIOS",
    "BLOCK_FINISH_REASONS",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "IMAGE_SIZES",
    "GeminiProvider",
    "GoogleStatus",
    "google_error",
    "history_turn",
]
