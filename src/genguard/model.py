"""The data that flows through a pipeline: request in, result out, and the per-call context."""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .errors import InvalidRequest
from .request_checks import check_request

if TYPE_CHECKING:
    from .billing import CallLedger, Cost
    from .clock import Clock
    from .observe import Observer
    from .providers.transport import HttpTransport

Role = Literal["user", "model"]


@dataclass(frozen=True, slots=True)
class Image:
    """Image bytes and their MIME type. The repr shows size, never content."""

    data: bytes
    mime_type: str = "image/png"

    def __repr__(self) -> str:
        return f"Image(mime_type={self.mime_type!r}, {len(self.data)} bytes)"

    @property
    def format(self) -> str | None:
        """The MIME type the bytes show (magic bytes), which may differ from ``mime_type``."""
        from .imagefile import sniff

        return sniff(self.data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image to ``path`` and return where it went.

        The suffix must match the real format (``.png`` for PNG bytes...) or an
        ``ImageFormatError`` names the path that would fit; no suffix gets the real one.
        """
        from .imagefile import save

        return save(self, path)

    def to_pil(self) -> Any:
        """The image as a ``PIL.Image.Image`` (needs Pillow, the ``pil`` extra)."""
        from .imagefile import to_pil

        return to_pil(self)


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a conversation turn, kept exactly as the provider sent it.

    ``thought_signature`` is the provider's opaque string, echoed back byte for byte;
    ``raw_data`` is the base64 text of an image as received, so re-encoding can
    never change what is sent back. ``extra`` is the part's whole JSON when it
    carries a kind genguard does not model (``fileData``, ``functionCall``,
    ``executableCode``, ...): it is sent back verbatim, so history loses nothing.
    """

    text: str | None = None
    image: Image | None = None
    thought: bool = False
    thought_signature: str | None = None
    raw_data: str | None = None
    extra: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        shown = [f"text=<{len(self.text)} chars>"] if self.text is not None else []
        if self.image is not None:
            shown.append(f"image={self.image!r}")
        if self.thought:
            shown.append("thought=True")
        if self.thought_signature is not None:
            shown.append(f"thought_signature=<{len(self.thought_signature)} chars>")
        return f"Part({', '.join(shown)})"


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a multi-turn conversation."""

    role: Role
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reported them (None where it did not).

    ``image_tokens`` and ``output_text_tokens`` split the output by modality;
    ``input_text_tokens``/``input_image_tokens`` split the input;
    ``cached_tokens`` is the part of the input served from a cache and
    ``thoughts_tokens`` the model's thinking (Gemini bills it as output).
    ``images`` is the count a per-image price applies to (Imagen, dall-e).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    image_tokens: int | None = None
    input_text_tokens: int | None = None
    input_image_tokens: int | None = None
    output_text_tokens: int | None = None
    cached_tokens: int | None = None
    thoughts_tokens: int | None = None
    images: int | None = None
    #: Gemini ``trafficType`` (``ON_DEMAND``, ``ON_DEMAND_FLEX``, ...), when sent.
    traffic_type: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """OpenAI's ``x-ratelimit-*`` headers, parsed (reset values in seconds)."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One way the request a fallback target was sent differs from the caller's.

    ``field`` is the request field (``size``, ``aspect_ratio``, ``options.quality``,
    ``prompt``...), ``before``/``after`` its values as text (None: absent), and
    ``reason`` why (e.g. the nearest value the target model supports).
    """

    field: str
    before: str | None
    after: str | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What the caller asks for. Frozen: layers derive new requests, they never mutate one.

    ``seed=0`` is a valid seed (only ``None`` means "no seed"). ``metadata`` feeds
    partition keys (e.g. ``tenant``); ``deadline`` (seconds) overrides the stack's.
    """

    prompt: str
    size: str | None = None
    aspect_ratio: str | None = None
    n: int = 1
    model: str | None = None
    seed: int | None = None
    images: tuple[Image, ...] = ()
    history: tuple[Turn, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    deadline: float | None = None
    token_estimate: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_request(self)

    def __repr__(self) -> str:
        digest = hashlib.sha256(self.prompt.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return (
            f"GenerationRequest(prompt=<{len(self.prompt)} chars sha256:{digest}>, n={self.n}, "
            f"model={self.model!r}, size={self.size!r}, aspect_ratio={self.aspect_ratio!r}, "
            f"seed={self.seed!r}, images={len(self.images)}, history={len(self.history)})"
        )


class RequestFields(TypedDict, total=False):
    """The fields of ``GenerationRequest`` other than ``prompt``, for ``**fields`` typing:
    ``client.generate("a fox", seed=0)`` is checked, ``sed=0`` is a type error."""

    size: str | None
    aspect_ratio: str | None
    n: int
    model: str | None
    seed: int | None
    images: tuple[Image, ...]
    history: tuple[Turn, ...]
    metadata: Mapping[str, str]
    idempotency_key: str | None
    deadline: float | None
    token_estimate: int | None
    options: Mapping[str, Any]


def make_request(request: GenerationRequest | str, fields: Mapping[str, Any]) -> GenerationRequest:
    """``request`` (or a prompt) with ``fields`` applied; an unknown name is an
    ``InvalidRequest`` naming the closest field, not a ``TypeError``."""
    known = GenerationRequest.__dataclass_fields__
    for name in fields:
        if name not in known or name == "prompt":
            close = difflib.get_close_matches(name, [f for f in known if f != "prompt"], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidRequest(
                f"unknown request field {name!r}{hint}",
                field=name,
                allowed=tuple(f for f in known if f != "prompt"),
            )
    if isinstance(request, str):
        return GenerationRequest(prompt=request, **fields)
    return replace(request, **fields) if fields else request


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What came back: images, any text, and how it was obtained."""

    images: tuple[Image, ...]
    generation_id: str
    provider: str
    model: str
    text: str | None = None
    seed: int | None = None
    attempts: int = 1
    latency: float = 0.0
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    #: The model turn exactly as received (thought parts and signatures included).
    parts: tuple[Part, ...] = ()
    request_id: str | None = None
    rate_limit: RateLimitInfo | None = None
    revised_prompt: str | None = None
    #: What the call cost: settled plus possibly billed (set by the client).
    cost: Cost | None = None
    #: How the request was translated for the fallback target that served it (empty when
    #: the primary served it, or the target took it unchanged).
    changes: tuple[Change, ...] = ()

    @property
    def image(self) -> Image:
        """The first image (results always carry at least one)."""
        return self.images[0]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the first image (see ``Image.save``)."""
        return self.image.save(path)

    def __repr__(self) -> str:
        text = "None" if self.text is None else f"<{len(self.text)} chars>"
        return (
            f"GenerationResult(provider={self.provider!r}, model={self.model!r}, "
            f"images={list(self.images)!r}, text={text}, attempts={self.attempts}, "
            f"latency={self.latency:.3f}, finish_reason={self.finish_reason!r}, "
            f"generation_id={self.generation_id!r})"
        )

    @property
    def thought_signatures(self) -> tuple[str, ...]:
        return tuple(p.thought_signature for p in self.parts if p.thought_signature)


@dataclass(slots=True, eq=False)
class Call:
    """Per-call context handed down the pipeline alongside the request.

    Mutable on purpose: the attempt boundary counts ``attempt``, fallback may
    re-route ``provider``/``model``/``key``. ``deadline`` is on ``clock``'s
    monotonic scale. ``extras`` is scratch space for layers (namespaced keys).
    """

    request: GenerationRequest
    generation_id: str
    provider: str
    model: str
    key: str
    observer: Observer
    clock: Clock
    started_at: float
    deadline: float | None = None
    attempt: int = 0
    extras: dict[str, Any] = field(default_factory=dict)
    #: The billing status and cost of every attempt (see ``genguard.billing``).
    billing: CallLedger = field(default_factory=lambda: _new_ledger())
    #: The client's HTTP transport: what a fallback route sends on (None outside a client).
    transport: HttpTransport | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), or None without one."""
        if self.deadline is None:
            return None
        return self.deadline - self.clock.now()


def _new_ledger() -> CallLedger:
    from .billing import CallLedger

    return CallLedger()


__all__ = [
    "Call",
    "Change",
    "GenerationRequest",
    "GenerationResult",
    "Image",
    "Part",
    "RateLimitInfo",
    "RequestFields",
    "Role",
    "Turn",
    "Usage",
    "make_request",
]
