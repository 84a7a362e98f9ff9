"""Wire bodies of both APIs, shaped like the reference fixtures.

Pure functions from a few values to JSON-ready dicts, so the server and tests
share one definition of what each API sends.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

GEMINI_HEADERS = {
    "content-type": "application/json; charset=UTF-8",
    "vary": "Origin, X-Origin, Referer",
}
OPENAI_BASE_HEADERS = {
    "openai-organization": "org-genguard-sim",
    "openai-processing-ms": "1",
    "openai-version": "2020-10-01",
}
# Nominal, never-exhausted limits sent when no server-side limiter is active.
OPENAI_NOMINAL_LIMITS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "10000000",
    "x-ratelimit-remaining-tokens": "9999000",
    "x-ratelimit-reset-tokens": "6ms",
}

GEMINI_STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: (
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    ),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    501: ("UNIMPLEMENTED", "Operation is not implemented."),
    502: ("UNAVAILABLE", "The service is currently unavailable."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

OPENAI_STATUS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", None, "The requested resource was not found."),
    409: ("invalid_request_error", None, "The request conflicted with another request."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "The server timed out while processing your request."),
}

MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
IMAGE_SCORED = frozenset(
    {
        "self-harm",
        "self-harm/instructions",
        "self-harm/intent",
        "sexual",
        "violence",
        "violence/graphic",
    }
)

GEMINI_IMAGE_SAFETY_MESSAGE = (
    "Unable to show the generated image. The image was filtered out because it violated "
    "Google's Generative AI Prohibited Use policy. You will not be charged for blocked "
    "images. Try rephrasing the prompt."
)
GEMINI_SIGNATURE_DOCS = (
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures#model-behavior "
    "for more details."
)


def format_duration(seconds: float) -> str:
    """A protobuf JSON Duration ("0.250s", "32s"), rounded up to the millisecond."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    whole, frac = divmod(ms, 1000)
    return f"{whole}s" if frac == 0 else f"{whole}.{frac:03d}s"


def format_go_duration(seconds: float) -> str:
    """An OpenAI ``x-ratelimit-reset-*`` value ("12ms", "1.2s", "6m0s")."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:g}s"
    minutes, rest = divmod(ms, 60_000)
    return f"{minutes}m{rest / 1000:g}s"


# -- Gemini ---------------------------------------------------------------------------


def gemini_error(
    code: int,
    message: str | None = None,
    *,
    status: str | None = None,
    details: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    default_status, default_message = GEMINI_STATUS.get(code, ("UNKNOWN", "Unknown error."))
    error: dict[str, Any] = {
        "code": code,
        "message": message if message is not None else default_message,
        "status": status or default_status,
    }
    if details:
        error["details"] = [dict(d) for d in details]
    return {"error": error}


def gemini_retry_info_error(model: str, retry_delay: str, seconds: float) -> dict[str, Any]:
    """The 429 RESOURCE_EXHAUSTED of a per-minute quota: QuotaFailure, Help, RetryInfo."""
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        "For more information on this error, head to: "
        "https://ai.google.dev/gemini-api/docs/rate-limits. \n"
        "* Quota exceeded for metric: "
        "generativelanguage.googleapis.com/generate_content_free_tier_requests, "
        f"limit: 10, model: {model}\nPlease retry in {seconds:.6f}s."
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": (
                        "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                    ),
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "10",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
    ]
    return gemini_error(429, message, details=details)


def gemini_daily_quota_error(model: str, retry_after: float) -> dict[str, Any]:
    """The 429 RESOURCE_EXHAUSTED of a spent per-day quota: QuotaFailure (PerDay), RetryInfo."""
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        "* Quota exceeded for metric: "
        "generativelanguage.googleapis.com/generate_content_free_tier_requests, "
        f"limit: 100, model: {model}\nPlease retry in {retry_after:.6f}s."
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": (
                        "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                    ),
                    "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "100",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format_duration(retry_after),
        },
    ]
    return gemini_error(429, message, details=details)


def gemini_api_key_invalid() -> dict[str, Any]:
    message = "API key not valid. Please pass a valid API key."
    return gemini_error(
        400,
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def gemini_not_found(model: str) -> dict[str, Any]:
    return gemini_error(
        404,
        f"models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


def gemini_missing_signature(content_pos: int, part_pos: int) -> dict[str, Any]:
    return gemini_error(
        400,
        f"Image part is missing a thought_signature in content position {content_pos}, "
        f"part position {part_pos}. {GEMINI_SIGNATURE_DOCS}",
    )


def gemini_invalid_signature(content_pos: int, part_pos: int) -> dict[str, Any]:
    return gemini_error(
        400,
        "Request contains an invalid thought signature in content position "
        f"{content_pos}, part position {part_pos}. {GEMINI_SIGNATURE_DOCS}",
    )


def gemini_usage(
    prompt_tokens: int, image_tokens: int, text_tokens: int, thoughts: int = 0
) -> dict[str, Any]:
    candidates = image_tokens + text_tokens
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt_tokens + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    details = [{"modality": "TEXT", "tokenCount": text_tokens}]
    if image_tokens:
        details.append({"modality": "IMAGE", "tokenCount": image_tokens})
    usage["candidatesTokensDetails"] = details
    return usage


def gemini_success(
    *,
    model: str,
    response_id: str,
    parts: list[dict[str, Any]],
    usage: dict[str, Any],
) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def gemini_image_safety(*, model: str, response_id: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "finishReason": "IMAGE_SAFETY",
                "finishMessage": GEMINI_IMAGE_SAFETY_MESSAGE,
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": 0,
            "totalTokenCount": prompt_tokens,
        },
        "modelVersion": model,
        "responseId": response_id,
    }


def gemini_prompt_blocked(*, model: str, response_id: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "totalTokenCount": prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        },
        "modelVersion": model,
        "responseId": response_id,
    }


# -- OpenAI ---------------------------------------------------------------------------


def openai_error(
    code: int,
    message: str | None = None,
    *,
    type_: str | None = None,
    err_code: str | None = None,
    param: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    default_type, default_code, default_message = OPENAI_STATUS.get(
        code, ("server_error" if code >= 500 else "invalid_request_error", None, "Error.")
    )
    error: dict[str, Any] = {
        "message": message if message is not None else default_message,
        "type": type_ or default_type,
        "param": param,
        "code": err_code if err_code is not None else default_code,
    }
    if extra:
        error.update(extra)
    return {"error": error}


def openai_missing_key() -> dict[str, Any]:
    body = openai_error(
        401,
        "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
        "You can obtain an API key from https://platform.openai.com/account/api-keys.",
    )
    body["error"]["code"] = None
    return body


def openai_invalid_key(key: str) -> dict[str, Any]:
    masked = "****" + key[-4:] if len(key) > 8 else "****"
    return openai_error(
        401,
        f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        err_code="invalid_api_key",
    )


def openai_rate_limited(model: str, seconds: float) -> dict[str, Any]:
    return openai_error(
        429,
        f"Rate limit reached for {model} in organization org-genguard-sim on requests per "
        f"min (RPM): Limit 1, Used 1, Requested 1. Please try again in "
        f"{format_go_duration(seconds)}. Visit https://platform.openai.com/account/rate-limits "
        "to learn more.",
        type_="requests",
        err_code="rate_limit_exceeded",
    )


def openai_insufficient_quota() -> dict[str, Any]:
    return openai_error(
        429,
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type_="insufficient_quota",
        err_code="insufficient_quota",
    )


def openai_content_policy() -> dict[str, Any]:
    return openai_error(
        400,
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        err_code="content_policy_violation",
    )


def openai_moderation_blocked(
    request_id: str, stage: str, categories: Sequence[str]
) -> dict[str, Any]:
    cats = list(categories)
    return openai_error(
        400,
        "Your request was rejected by the safety system. If you believe this is an error, "
        f"contact us at help.openai.com and include the request ID {request_id}. "
        f"safety_violations=[{', '.join(cats)}].",
        type_="image_generation_user_error",
        err_code="moderation_blocked",
        extra={"moderation_details": {"moderation_stage": stage, "categories": cats}},
    )


def openai_invalid_value(param: str, message: str) -> dict[str, Any]:
    return openai_error(400, message, err_code="invalid_value", param=param)


def openai_missing_param(param: str) -> dict[str, Any]:
    return openai_error(
        400,
        f"Missing required parameter: '{param}'.",
        err_code="missing_required_parameter",
        param=param,
    )


def openai_images_usage(
    prompt: str, n: int, input_images: int = 0, out_per_image: int = 4160
) -> dict[str, Any]:
    text_tokens = max(1, len(prompt) // 4)
    image_in = 323 * input_images
    out = out_per_image * n
    return {
        "input_tokens": text_tokens + image_in,
        "input_tokens_details": {"image_tokens": image_in, "text_tokens": text_tokens},
        "output_tokens": out,
        "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
        "total_tokens": text_tokens + image_in + out,
    }


def moderation_result(
    flagged_categories: Iterable[str], with_image: bool = False
) -> dict[str, Any]:
    flagged = set(flagged_categories)
    return {
        "flagged": bool(flagged),
        "categories": {c: c in flagged for c in MODERATION_CATEGORIES},
        "category_scores": {c: 0.9734 if c in flagged else 1.2e-05 for c in MODERATION_CATEGORIES},
        "category_applied_input_types": {
            c: ["text", "image"] if with_image and c in IMAGE_SCORED else ["text"]
            for c in MODERATION_CATEGORIES
        },
    }


def encode_body(body: Any) -> bytes:
    """A reply body as bytes: bytes as they are, text as UTF-8, anything else as compact JSON."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
