"""What a run leaves in its folder besides the journal: the images, named by job id, and
the manifest (JSONL, one line per job, rebuilt from the journal so it is never torn)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..model import Image
from .journal import JobRecord

IMAGES_DIR = "images"
MANIFEST_NAME = "manifest.jsonl"
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def image_names(job_id: str, images: Sequence[Image]) -> list[str]:
    """``images/<id>.png`` for one image, ``images/<id>-<k>.png`` for several."""
    names = []
    for index, image in enumerate(images):
        ext = _EXT.get(image.mime_type, "bin")
        stem = job_id if len(images) == 1 else f"{job_id}-{index + 1}"
        names.append(f"{IMAGES_DIR}/{stem}.{ext}")
    return names


def write_images(folder: Path, job_id: str, images: Sequence[Image]) -> tuple[str, ...]:
    """Write a job's images atomically (temp file, then rename); blocking, call in a thread.

    Job ids are checked safe file names (see ``jobs.ID_PATTERN``), so every path
    stays inside ``folder``.
    """
    names = image_names(job_id, images)
    (folder / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, images, strict=True):
        target = folder / name
        temp = target.with_name(f".{target.name}.tmp")
        with open(temp, "wb") as handle:
            handle.write(image.data)
        os.replace(temp, target)
    return tuple(names)


def manifest_line(record: JobRecord) -> dict[str, Any]:
    """One manifest entry: the job's outcome and how it was obtained."""
    error = None
    if record.error_type is not None:
        error = {
            "type": record.error_type,
            "message": record.error,
            "retryable": record.retryable,
        }
    return {
        "id": record.id,
        "status": record.state,
        "files": list(record.files),
        "provider": record.provider,
        "model": record.model,
        "attempts": record.attempts,
        "cost": record.cost,
        "duration": None if record.duration is None else round(record.duration, 4),
        "via": record.via,
        "batch_id": record.batch_id,
        "billing": record.billing,
        "usage": record.usage,
        "error": error,
    }


def write_manifest(folder: Path, records: Iterable[JobRecord]) -> Path:
    """Rewrite ``manifest.jsonl`` from journal records (atomically); blocking."""
    target = folder / MANIFEST_NAME
    temp = target.with_name(f".{MANIFEST_NAME}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(manifest_line(record), separators=(",", ":")))
            handle.write("\n")
    os.replace(temp, target)
    return target


__all__ = ["IMAGES_DIR", "MANIFEST_NAME", "image_names", "manifest_line", "write_images"]
