"""Image bytes to files: the real format from magic bytes, and a file name that agrees with it.

A provider's ``mime_type`` is what it claimed; the bytes say what it sent. Saving
PNG bytes under ``.jpg`` makes a file every viewer mislabels, so ``save`` checks
the name against the bytes and refuses a mismatch with the name that would fit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import GenGuardError

if TYPE_CHECKING:
    from .model import Image

#: MIME type -> the suffix written for it.
SUFFIX_OF: Mapping[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}
#: Every suffix accepted for a format (lower case).
SUFFIXES: Mapping[str, frozenset[str]] = {
    "image/png": frozenset({".png"}),
    "image/jpeg": frozenset({".jpg", ".jpeg"}),
    "image/webp": frozenset({".webp"}),
    "image/gif": frozenset({".gif"}),
}
IMAGE_SUFFIXES = frozenset(s for group in SUFFIXES.values() for s in group)


class ImageFormatError(GenGuardError):
    """Image bytes and a file name (or a claimed type) disagree, or the bytes are no image.

    ``detected`` is the MIME type the bytes show (None: not a known image format);
    ``suggested`` is the path that would fit, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        detected: str | None = None,
        suggested: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.detected = detected
        self.suggested = suggested


def sniff(data: bytes) -> str | None:
    """The MIME type the bytes show (PNG, JPEG, WebP, GIF), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def suffix_fits(path: str | os.PathLike[str], mime: str) -> bool:
    """Whether ``path``'s suffix names format ``mime``."""
    return Path(path).suffix.lower() in SUFFIXES.get(mime, frozenset())


def target_path(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Where ``data`` may be saved for the requested ``path``.

    No suffix: the real one is added. A suffix of another format: ImageFormatError
    naming the path that would fit. Bytes of no known format: ImageFormatError.
    """
    target = Path(path)
    mime = sniff(data)
    if mime is None:
        raise ImageFormatError(
            f"the data is not a PNG, JPEG, WebP or GIF image ({len(data)} bytes); not saved",
            path=str(target),
        )
    suffix = target.suffix.lower()
    if not suffix:
        return target.with_name(target.name + SUFFIX_OF[mime])
    if suffix in SUFFIXES[mime]:
        return target
    fitting = target.with_suffix(SUFFIX_OF[mime])
    raise ImageFormatError(
        f"{target.name}: the image is {mime.split('/')[1].upper()} but the name ends in "
        f"{target.suffix}; save it as {fitting.name}",
        path=str(target),
        detected=mime,
        suggested=str(fitting),
    )


def save(image: Image, path: str | os.PathLike[str]) -> Path:
    """Write ``image`` to ``path`` (suffix checked, or added when missing); returns the path."""
    target = target_path(image.data, path)
    target.write_bytes(image.data)
    return target


def to_pil(image: Image) -> Any:
    """A ``PIL.Image.Image`` of ``image`` (needs Pillow: ``pip install genguard[pil]``)."""
    try:
        from PIL import Image as PILImage
    except ModuleNotFoundError:
        raise ImportError(
            "Image.to_pil() needs Pillow: pip install 'genguard[pil]' (or pillow)"
        ) from None
    import io

    picture = PILImage.open(io.BytesIO(image.data))
    picture.load()
    return picture


__all__ = [
    "IMAGE_SUFFIXES",
    "SUFFIXES",
    "SUFFIX_OF",
    "ImageFormatError",
    "save",
    "sniff",
    "suffix_fits",
    "target_path",
    "to_pil",
]
