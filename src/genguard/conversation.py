"""Multi-turn refinement: each turn goes through the whole pipeline, history grows only on success.

Gemini is stateless: every turn sends the whole history as ``contents``, with the
model's parts (images, text, thought parts, ``thoughtSignature``) exactly as they
were received. OpenAI has no history: a refinement sends the latest image to
``/v1/images/edits`` with the new prompt. Either way the conversation keeps the
same record, can be trimmed to a budget, and can be saved and resumed elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequest
from .files import FileRefused, read_bounded
from .model import GenerationRequest, GenerationResult, Image, Part, Turn
from .request_checks import check_mime_type

if TYPE_CHECKING:
    from .pipeline import Client

FORMAT_VERSION = 1
#: Largest image file a saved conversation may name (read only inside ``image_dir``).
MAX_IMAGE_FILE_BYTES = 32 * 1024 * 1024
EDIT_STYLE_PROVIDERS = frozenset({"openai"})


@dataclass(frozen=True, slots=True)
class TrimReport:
    """What the last send left out of the history it sent, to stay within the limits."""

    dropped_turns: int
    dropped_bytes: int


def _part_bytes(part: Part) -> int:
    size = len(part.text or "") + len(part.thought_signature or "")
    if part.extra is not None:
        size += len(json.dumps(part.extra, separators=(",", ":"), default=str))
    if part.image is not None:
        size += len(part.raw_data) if part.raw_data is not None else len(part.image.data) * 4 // 3
    return size


def _turn_bytes(turn: Turn) -> int:
    return sum(_part_bytes(p) for p in turn.parts)


def _has_image(turn: Turn) -> bool:
    return any(p.image is not None for p in turn.parts)


def trim_history(
    turns: Sequence[Turn], max_turns: int | None, max_bytes: int | None
) -> tuple[tuple[Turn, ...], TrimReport]:
    """Drop the oldest turns (in user/model pairs) until within both limits.

    Always kept: the first user turn (the original intent; reduced to its text
    if its images alone break the byte budget) and the latest model turn that
    carries an image (what the next edit refines). Whole turns are dropped,
    never single parts, so the parts that remain keep their signatures intact.
    """
    kept = list(turns)
    if not kept:
        return (), TrimReport(0, 0)
    latest_image = max(
        (i for i, t in enumerate(kept) if t.role == "model" and _has_image(t)), default=-1
    )

    def over() -> bool:
        too_many = max_turns is not None and len(kept) > max_turns
        too_big = max_bytes is not None and sum(_turn_bytes(t) for t in kept) > max_bytes
        return too_many or too_big

    dropped_turns = dropped_bytes = 0
    index = 1  # never the first turn
    while over() and index < len(kept):
        if index >= latest_image >= 0:
            break
        # Drop a user turn together with the model turn that answered it.
        span = 2 if index + 1 < len(kept) and kept[index + 1].role == "model" else 1
        if latest_image >= 0 and index + span > latest_image:
            span = latest_image - index
            if span <= 0:
                break
        for turn in kept[index : index + span]:
            dropped_turns += 1
            dropped_bytes += _turn_bytes(turn)
        del kept[index : index + span]
        if latest_image >= 0:
            latest_image -= span
    if max_bytes is not None and sum(_turn_bytes(t) for t in kept) > max_bytes:
        first = kept[0]
        text_only = tuple(p for p in first.parts if p.image is None)
        if text_only != first.parts:
            dropped_bytes += _turn_bytes(first) - sum(_part_bytes(p) for p in text_only)
            kept[0] = Turn(first.role, text_only)
    return tuple(kept), TrimReport(dropped_turns, dropped_bytes)


class Conversation:
    """A refinement session over one client; sends are serialised, history changes only on success.

    ``max_turns`` and ``max_bytes`` bound what is *sent*; the full record is kept
    in ``turns`` (and persisted) unless ``keep_trimmed`` is False.
    """

    def __init__(
        self,
        client: Client,
        *,
        turns: Sequence[Turn] = (),
        max_turns: int | None = 20,
        max_bytes: int | None = 16 * 1024 * 1024,
        keep_trimmed: bool = True,
    ) -> None:
        if max_turns is not None and (not _is_int(max_turns) or max_turns < 2):
            raise InvalidRequest(
                "max_turns must be an integer >= 2 (one user and one model turn)",
                field="max_turns",
            )
        if max_bytes is not None and (not _is_int(max_bytes) or max_bytes < 1):
            raise InvalidRequest("max_bytes must be an integer >= 1", field="max_bytes")
        self.client = client
        self.turns: tuple[Turn, ...] = tuple(turns)
        self.max_turns = max_turns
        self.max_bytes = max_bytes
        self.keep_trimmed = keep_trimmed
        self.last_trim: TrimReport | None = None
        self._lock = asyncio.Lock()

    @property
    def edit_style(self) -> bool:
        """True when the provider refines by editing the latest image (OpenAI)."""
        return self.client.provider.name in EDIT_STYLE_PROVIDERS

    def latest_image(self) -> Image | None:
        for turn in reversed(self.turns):
            if turn.role == "model":
                for part in reversed(turn.parts):
                    if part.image is not None and not part.thought:
                        return part.image
        return None

    async def send(
        self, prompt: str, images: Sequence[Image] = (), **fields: Any
    ) -> GenerationResult:
        """Send the next user turn through the client's whole pipeline."""
        async with self._lock:
            history, report = trim_history(self.turns, self.max_turns, self.max_bytes)
            if self.edit_style:
                latest = self.latest_image()
                edit_images = ((latest,) if latest is not None else ()) + tuple(images)
                request = GenerationRequest(prompt=prompt, images=edit_images, **fields)
            else:
                request = GenerationRequest(
                    prompt=prompt, images=tuple(images), history=history, **fields
                )
            result = await self.client.generate(request)
            # Only a successful turn changes the history.
            user_parts = (Part(text=prompt), *(Part(image=image) for image in images))
            model_parts = result.parts or tuple(Part(image=image) for image in result.images)
            base = self.turns if self.keep_trimmed else history
            self.turns = (*base, Turn("user", user_parts), Turn("model", model_parts))
            self.last_trim = report
            return result

    # -- persistence ------------------------------------------------------------------------
    def to_json(self, image_dir: str | Path | None = None) -> str:
        """Serialise the conversation. With ``image_dir``, images go to files beside it."""
        directory = Path(image_dir) if image_dir is not None else None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        turns: list[dict[str, Any]] = []
        for t_index, turn in enumerate(self.turns):
            parts: list[dict[str, Any]] = []
            for p_index, part in enumerate(turn.parts):
                parts.append(_dump_part(part, directory, f"turn{t_index:03d}_part{p_index:02d}"))
            turns.append({"role": turn.role, "parts": parts})
        document = {
            "version": FORMAT_VERSION,
            "provider": self.client.provider.name,
            "max_turns": self.max_turns,
            "max_bytes": self.max_bytes,
            "turns": turns,
        }
        return json.dumps(document, indent=1)

    @classmethod
    def from_json(
        cls,
        client: Client,
        text: str,
        *,
        image_dir: str | Path | None = None,
        max_file_bytes: int = MAX_IMAGE_FILE_BYTES,
    ) -> Conversation:
        """Resume a conversation saved by :meth:`to_json` (in this or another process).

        The text is untrusted: an image ``"file"`` is read only if it is a regular
        file inside ``image_dir`` of at most ``max_file_bytes`` (see ``genguard.files``).
        """
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest(f"conversation JSON is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise InvalidRequest("conversation JSON must be an object")
        version = document.get("version")
        if version != FORMAT_VERSION:
            raise InvalidRequest(
                f"conversation format version {version!r} is not supported (expected 1)"
            )
        directory = Path(image_dir) if image_dir is not None else None
        raw_turns = document.get("turns")
        if not isinstance(raw_turns, list):
            raise InvalidRequest("conversation JSON: 'turns' must be a list")
        turns = []
        for t_index, raw in enumerate(raw_turns):
            if not isinstance(raw, dict) or raw.get("role") not in ("user", "model"):
                raise InvalidRequest(
                    f"conversation JSON: turns[{t_index}] needs role user or model"
                )
            raw_parts = raw.get("parts")
            if not isinstance(raw_parts, list):
                raise InvalidRequest(f"conversation JSON: turns[{t_index}].parts must be a list")
            parts = tuple(
                _load_part(p, directory, f"turns[{t_index}].parts[{i}]", max_file_bytes)
                for i, p in enumerate(raw_parts)
            )
            turns.append(Turn(raw["role"], parts))
        return cls(
            client,
            turns=turns,
            max_turns=document.get("max_turns", 20),
            max_bytes=document.get("max_bytes", 16 * 1024 * 1024),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dump_part(part: Part, directory: Path | None, stem: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if part.extra is not None:
        out["extra"] = dict(part.extra)
    if part.text is not None:
        out["text"] = part.text
    if part.thought:
        out["thought"] = True
    if part.thought_signature is not None:
        out["thought_signature"] = part.thought_signature
    if part.image is not None:
        canonical = base64.b64encode(part.image.data).decode("ascii")
        image: dict[str, Any] = {"mime_type": part.image.mime_type}
        if directory is not None and (part.raw_data is None or part.raw_data == canonical):
            suffix = part.image.mime_type.rsplit("/", 1)[-1]
            name = f"{stem}.{suffix}"
            (directory / name).write_bytes(part.image.data)
            image["file"] = name
        else:
            image["data"] = part.raw_data if part.raw_data is not None else canonical
            image["raw"] = part.raw_data is not None
        out["image"] = image
    return out


def _load_part(raw: Any, directory: Path | None, where: str, max_file_bytes: int) -> Part:
    if not isinstance(raw, dict):
        raise InvalidRequest(f"conversation JSON: {where} must be an object")
    image = None
    raw_data = None
    if "image" in raw:
        spec = raw["image"]
        if not isinstance(spec, dict):
            raise InvalidRequest(f"conversation JSON: {where}.image must be an object")
        mime = spec.get("mime_type", "image/png")
        check_mime_type(mime, f"conversation JSON: {where}.image.mime_type")
        assert isinstance(mime, str)
        if "file" in spec:
            if directory is None:
                raise InvalidRequest(f"conversation JSON: {where}.image is a file; pass image_dir")
            name = spec["file"]
            if not isinstance(name, str):
                raise InvalidRequest(f"conversation JSON: {where}.image.file must be a file name")
            try:
                data = read_bounded(directory, name, max_bytes=max_file_bytes)
            except FileRefused as exc:
                raise InvalidRequest(
                    f"conversation JSON: {where}.image file {name[:80]!r} refused: {exc.reason}",
                    field=f"{where}.image.file",
                ) from None
            raw_data = base64.b64encode(data).decode("ascii")
        else:
            encoded = spec.get("data")
            if not isinstance(encoded, str):
                raise InvalidRequest(f"conversation JSON: {where}.image.data must be base64 text")
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidRequest(
                    f"conversation JSON: {where}.image.data is not valid base64"
                ) from exc
            raw_data = encoded if spec.get("raw", True) else None
        image = Image(data, mime)
    text = raw.get("text")
    signature = raw.get("thought_signature")
    extra = raw.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise InvalidRequest(f"conversation JSON: {where}.extra must be an object")
    if text is not None and not isinstance(text, str):
        raise InvalidRequest(f"conversation JSON: {where}.text must be a string")
    if signature is not None and not isinstance(signature, str):
        raise InvalidRequest(f"conversation JSON: {where}.thought_signature must be a string")
    return Part(
        text=text,
        image=image,
        thought=bool(raw.get("thought", False)),
        thought_signature=signature,
        raw_data=raw_data,
        extra=extra,
    )


__all__ = ["FORMAT_VERSION", "Conversation", "TrimReport", "trim_history"]
