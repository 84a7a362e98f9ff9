"""Parsing what clients send: both Gemini spellings, OpenAI JSON and multipart.

Bad input becomes a ``RequestError`` carrying the API's own 400 body, never an
exception that escapes as a 500.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from . import wire
from .log import Api
from .png import parse_gemini_size, parse_openai_size


class RequestError(Exception):
    """The request is malformed; ``body`` is the API's error body for ``status``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass(slots=True)
class SimRequest:
    """The parts of a request the simulator acts on."""

    api: Api
    path: str
    model: str
    prompt: str
    key: str | None
    body: Any
    digest: str
    width: int = 1024
    height: int = 1024
    n: int = 1
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


def request_digest(path: str, raw: bytes) -> str:
    """The identity of a request's content (path and body): a retry of one call has the
    same digest, another call a different one (the Retry-After accounting keys on it)."""
    return hashlib.sha256(path.encode() + b"\x00" + raw).hexdigest()


def pick(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field under either spelling (protobuf JSON accepts both)."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _gemini_bad(message: str) -> RequestError:
    return RequestError(400, wire.gemini_error(400, message))


def _openai_bad(message: str, param: str | None = None) -> RequestError:
    return RequestError(400, wire.openai_error(400, message, param=param))


def _load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return _INVALID


_INVALID = object()


def parse_gemini(path: str, model: str, raw: bytes, key: str | None) -> SimRequest:
    body = _load_json(raw)
    if body is _INVALID or not isinstance(body, dict):
        raise _gemini_bad("Invalid JSON payload received. Expected an object.")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _gemini_bad("* GenerateContentRequest.contents: contents is not specified\n")
    prompt = ""
    input_images = 0
    for ci, content in enumerate(contents):
        if not isinstance(content, dict):
            raise _gemini_bad(f"Invalid value at 'contents[{ci}]': expected a Content object.")
        parts = content.get("parts")
        if not isinstance(parts, list):
            raise _gemini_bad(f"* GenerateContentRequest.contents[{ci}].parts: must be a list\n")
        texts = []
        for pi, part in enumerate(parts):
            if not isinstance(part, dict):
                raise _gemini_bad(f"Invalid value at 'contents[{ci}].parts[{pi}]'.")
            text = part.get("text")
            if text is not None:
                if not isinstance(text, str):
                    raise _gemini_bad(f"Invalid value at 'contents[{ci}].parts[{pi}].text'.")
                if not part.get("thought"):
                    texts.append(text)
            inline = pick(part, "inlineData", "inline_data")
            if inline is not None:
                if not isinstance(inline, dict) or not isinstance(inline.get("data"), str):
                    raise _gemini_bad(f"Invalid value at 'contents[{ci}].parts[{pi}].inline_data'.")
                input_images += 1
        if content.get("role", "user") == "user" and texts:
            prompt = " ".join(texts)
    config = pick(body, "generationConfig", "generation_config") or {}
    if not isinstance(config, dict):
        raise _gemini_bad("Invalid value at 'generation_config'.")
    image_config = pick(config, "imageConfig", "image_config") or {}
    if not isinstance(image_config, dict):
        raise _gemini_bad("Invalid value at 'generation_config.image_config'.")
    aspect = pick(image_config, "aspectRatio", "aspect_ratio")
    image_size = pick(image_config, "imageSize", "image_size")
    if (aspect is not None and not isinstance(aspect, str)) or (
        image_size is not None and not isinstance(image_size, str)
    ):
        raise _gemini_bad("Invalid value at 'generation_config.image_config'.")
    size = parse_gemini_size(aspect, image_size)
    if size is None:
        raise _gemini_bad(
            f"Invalid value at 'generation_config.image_config': aspect ratio {aspect!r} or "
            f"image size {image_size!r} is not supported."
        )
    modalities = pick(config, "responseModalities", "response_modalities")
    want_image = True
    if modalities is not None:
        if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
            raise _gemini_bad("Invalid value at 'generation_config.response_modalities'.")
        want_image = any(m.upper() == "IMAGE" for m in modalities)
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _gemini_bad("Invalid value at 'generation_config.seed'.")
    thoughts = pick(config, "thinkingConfig", "thinking_config")
    return SimRequest(
        api="gemini",
        path=path,
        model=model,
        prompt=prompt,
        key=key,
        body=body,
        digest=request_digest(path, raw),
        width=size[0],
        height=size[1],
        seed=seed,
        options={
            "contents": contents,
            "want_image": want_image,
            "input_images": input_images,
            "image_size": image_size,
            "include_thoughts": isinstance(thoughts, dict)
            and bool(pick(thoughts, "includeThoughts", "include_thoughts")),
        },
    )


def _openai_common(
    path: str, fields: dict[str, Any], key: str | None, body: Any, digest: str, images: int
) -> SimRequest:
    prompt = fields.get("prompt")
    if prompt is None:
        raise RequestError(400, wire.openai_missing_param("prompt"))
    if not isinstance(prompt, str):
        raise _openai_bad("Invalid type for 'prompt': expected a string.", "prompt")
    model = fields.get("model") or "gpt-image-1"
    if not isinstance(model, str):
        raise _openai_bad("Invalid type for 'model': expected a string.", "model")
    n_raw = fields.get("n", 1)
    try:
        n = int(n_raw)
    except (TypeError, ValueError):
        n = 0
    if isinstance(n_raw, bool) or not 1 <= n <= 10:
        raise RequestError(
            400, wire.openai_invalid_value("n", f"Invalid value: {n_raw!r}. Expected 1..10.")
        )
    size_raw = fields.get("size")
    size = parse_openai_size(size_raw) if size_raw is None or isinstance(size_raw, str) else None
    if size is None:
        raise RequestError(
            400,
            wire.openai_invalid_value(
                "size", f"Invalid value: {size_raw!r}. Expected 'WIDTHxHEIGHT' or 'auto'."
            ),
        )
    options = {
        k: fields[k]
        for k in ("quality", "background", "output_format", "response_format", "style")
        if isinstance(fields.get(k), str)
    }
    options["size"] = size_raw if isinstance(size_raw, str) and size_raw != "auto" else None
    options["input_images"] = images
    return SimRequest(
        api="openai",
        path=path,
        model=model,
        prompt=prompt,
        key=key,
        body=body,
        digest=digest,
        width=size[0],
        height=size[1],
        n=n,
        options=options,
    )


def parse_openai_generation(path: str, raw: bytes, key: str | None) -> SimRequest:
    body = _load_json(raw)
    if body is _INVALID or not isinstance(body, dict):
        raise _openai_bad(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)"
        )
    digest = request_digest(path, raw)
    return _openai_common(path, body, key, body, digest, 0)


def parse_openai_edit(
    path: str, fields: dict[str, str], files: list[dict[str, Any]], digest: str, key: str | None
) -> SimRequest:
    images = [f for f in files if f["name"] in ("image", "image[]")]
    if not images:
        raise RequestError(400, wire.openai_missing_param("image"))
    summary = {"fields": dict(fields), "files": files}
    return _openai_common(path, dict(fields), key, summary, digest, len(images))


def parse_moderation(path: str, raw: bytes, key: str | None) -> SimRequest:
    body = _load_json(raw)
    if body is _INVALID or not isinstance(body, dict):
        raise _openai_bad("We could not parse the JSON body of your request.")
    value = body.get("input")
    texts: list[str] = []
    groups: list[tuple[str, bool]] = []
    if isinstance(value, str):
        groups = [(value, False)]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        groups = [(v, False) for v in value]
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        has_image = False
        for item in value:
            if item.get("type") == "text" and isinstance(item.get("text"), str):
                texts.append(item["text"])
            elif item.get("type") == "image_url":
                has_image = True
            else:
                raise _openai_bad("Invalid value for 'input': unknown item type.", "input")
        groups = [(" ".join(texts), has_image)]
    else:
        raise RequestError(400, wire.openai_missing_param("input"))
    model = body.get("model") or "omni-moderation-latest"
    if not isinstance(model, str):
        raise _openai_bad("Invalid type for 'model': expected a string.", "model")
    return SimRequest(
        api="moderations",
        path=path,
        model=model,
        prompt=" ".join(g[0] for g in groups),
        key=key,
        body=body,
        digest=request_digest(path, raw),
        options={"groups": groups},
    )
