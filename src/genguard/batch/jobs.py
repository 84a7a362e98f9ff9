"""The job file: one request per JSONL line (with an id) or per CSV row (a prompt column).

Everything in it is untrusted: sizes and numbers are bounded, ids are safe file
names, unknown fields are refused (a typo must not silently change a request), and
input images are read only from inside the job file's folder (or a given root).
Every problem is a ``JobFileError`` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..model import GenerationRequest, Image
from .errors import JobFileError

Format = Literal["jsonl", "csv"]

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
MAX_JOBS = 1_000_000
MAX_PROMPT_CHARS = 32_000
MAX_N = 10
MAX_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_METADATA = 32
MAX_METADATA_CHARS = 256
MAX_SEED = 2**63 - 1
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHORT_FIELD = re.compile(r"[A-Za-z0-9:._ /-]{1,64}")
_MIME_BY_SUFFIX = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_MIME_BY_SUFFIX[".webp"] = "image/webp"
FIELDS = frozenset(
    {"id", "prompt", "size", "aspect_ratio", "n", "model", "seed", "metadata", "images"}
)
CSV_FIELDS = FIELDS - {"metadata", "images"}


@dataclass(frozen=True, slots=True)
class Job:
    """One request of the file, identified by ``id`` (also the stem of its image files)."""

    id: str
    prompt: str
    size: str | None = None
    aspect_ratio: str | None = None
    n: int = 1
    model: str | None = None
    seed: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Input images (edits), already resolved inside the root.
    images: tuple[Path, ...] = ()
    line: int = 0

    def request(self, images: tuple[Image, ...] = ()) -> GenerationRequest:
        """The request for this job; ``images`` are the loaded input images."""
        return GenerationRequest(
            prompt=self.prompt,
            size=self.size,
            aspect_ratio=self.aspect_ratio,
            n=self.n,
            model=self.model,
            seed=self.seed,
            images=images,
            metadata=dict(self.metadata),
            idempotency_key=f"batch-{self.id}",
        )

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, prompt=<{len(self.prompt)} chars>, n={self.n})"


def load_images(job: Job) -> tuple[Image, ...]:
    """Read the job's input images (blocking: call it in a thread), each size-bounded."""
    out: list[Image] = []
    for path in job.images:
        try:
            size = path.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise JobFileError(str(path), job.line, f"image exceeds {MAX_IMAGE_BYTES} bytes")
            data = path.read_bytes()[: MAX_IMAGE_BYTES + 1]
        except OSError as exc:
            raise JobFileError(str(path), job.line, f"cannot read image: {exc.strerror}") from None
        out.append(Image(data, _MIME_BY_SUFFIX.get(path.suffix.lower(), "image/png")))
    return tuple(out)


def read_jobs(path: str | Path, *, root: str | Path | None = None) -> list[Job]:
    """Every job of the file at ``path`` (JSONL or CSV, by suffix, else by content).

    Blocking: run it before the loop gets busy or in a thread.
    """
    source = Path(path)
    try:
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise JobFileError(str(source), 0, f"file exceeds {MAX_FILE_BYTES} bytes")
        with source.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise JobFileError(str(source), 0, f"cannot read: {exc.strerror or exc}") from None
    base = Path(root) if root is not None else source.parent
    return parse_jobs(data, path=str(source), fmt=_format_of(source, data), root=base)


def _format_of(path: Path, data: bytes) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "jsonl" if data.lstrip()[:1] == b"{" else "csv"


def parse_jobs(
    data: bytes, *, path: str = "<jobs>", fmt: Format = "jsonl", root: Path | None = None
) -> list[Job]:
    """Parse a job file's bytes. ``root`` bounds where input images may be read from."""
    if len(data) > MAX_FILE_BYTES:
        raise JobFileError(path, 0, f"file exceeds {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobFileError(path, 0, f"not UTF-8 (byte {exc.start})") from None
    rows = _jsonl_rows(text, path) if fmt == "jsonl" else _csv_rows(text, path)
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        job = _job(row, path, line, root, default_id=f"row-{len(jobs) + 1}")
        first = seen.get(job.id)
        if first is not None:
            raise JobFileError(path, line, f"duplicate id {job.id!r} (first on line {first})")
        seen[job.id] = line
        jobs.append(job)
        if len(jobs) > MAX_JOBS:
            raise JobFileError(path, line, f"more than {MAX_JOBS} jobs")
    if not jobs:
        raise JobFileError(path, 0, "no jobs in the file")
    return jobs


def _jsonl_rows(text: str, path: str) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if len(line) > MAX_LINE_BYTES:
            raise JobFileError(path, number, f"line exceeds {MAX_LINE_BYTES} characters")
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise JobFileError(path, number, f"not JSON ({_short(str(exc))})") from None
        if not isinstance(value, dict):
            raise JobFileError(path, number, f"expected an object, got {_kind(value)}")
        rows.append((number, value))
    return rows


def _csv_rows(text: str, path: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        header = next(reader, None)
        if header is None:
            raise JobFileError(path, 0, "no header row")
        names = [h.strip().lower() for h in header]
        if "prompt" not in names:
            raise JobFileError(path, 1, "the header has no 'prompt' column")
        unknown = sorted(set(names) - CSV_FIELDS - {""})
        if unknown:
            allowed = ", ".join(sorted(CSV_FIELDS))
            raise JobFileError(path, 1, f"unknown column {unknown[0]!r} (allowed: {allowed})")
        if len(set(names)) != len(names):
            raise JobFileError(path, 1, "a column appears twice in the header")
        for cells in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names):
                raise JobFileError(path, number, f"{len(cells)} cells for {len(names)} columns")
            row: dict[str, Any] = {}
            for name, cell in zip(names, cells, strict=False):
                if name and cell.strip():
                    row[name] = _csv_value(name, cell.strip(), path, number)
            rows.append((number, row))
    except csv.Error as exc:
        raise JobFileError(path, reader.line_num, f"bad CSV ({_short(str(exc))})") from None
    return rows


def _csv_value(name: str, cell: str, path: str, line: int) -> Any:
    if name not in ("n", "seed"):
        return cell
    if not re.fullmatch(r"-?\d{1,20}", cell):
        raise JobFileError(path, line, f"{name} must be an integer, got {_short(cell)!r}")
    return int(cell)


def _job(row: dict[str, Any], path: str, line: int, root: Path | None, default_id: str) -> Job:
    unknown = sorted(set(row) - FIELDS)
    if unknown:
        allowed = ", ".join(sorted(FIELDS))
        raise JobFileError(path, line, f"unknown field {_short(unknown[0])!r} (allowed: {allowed})")

    def text(name: str, pattern: re.Pattern[str] = _SHORT_FIELD) -> str | None:
        value = row.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise JobFileError(path, line, f"{name} must be a short plain string")
        return value

    def integer(name: str, low: int, high: int) -> int | None:
        value = row.get(name)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise JobFileError(path, line, f"{name} must be an integer in [{low}, {high}]")
        return value

    job_id = row.get("id", default_id)
    if isinstance(job_id, int) and not isinstance(job_id, bool) and job_id >= 0:
        job_id = str(job_id)
    if not isinstance(job_id, str) or not ID_PATTERN.fullmatch(job_id):
        raise JobFileError(
            path, line, "id must be 1-128 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise JobFileError(path, line, "prompt must be a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise JobFileError(path, line, f"prompt exceeds {MAX_PROMPT_CHARS} characters")
    n = integer("n", 1, MAX_N)
    return Job(
        id=job_id,
        prompt=prompt,
        size=text("size"),
        aspect_ratio=text("aspect_ratio"),
        n=1 if n is None else n,
        model=text("model"),
        seed=integer("seed", -MAX_SEED - 1, MAX_SEED),
        metadata=_metadata(row.get("metadata"), path, line),
        images=_images(row.get("images"), path, line, root),
        line=line,
    )


def _metadata(value: object, path: str, line: int) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise JobFileError(path, line, f"metadata must be an object of at most {MAX_METADATA}")
    for key, item in value.items():
        if not (isinstance(item, str) and len(key) <= MAX_METADATA_CHARS):
            raise JobFileError(path, line, "metadata values must be strings")
        if len(item) > MAX_METADATA_CHARS:
            raise JobFileError(path, line, f"metadata values exceed {MAX_METADATA_CHARS} chars")
    return dict(value)


def _images(value: object, path: str, line: int, root: Path | None) -> tuple[Path, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_IMAGES:
        raise JobFileError(path, line, f"images must be a list of 1-{MAX_IMAGES} paths")
    if root is None:
        raise JobFileError(path, line, "input images need a root folder to be read from")
    base = root.resolve()
    out: list[Path] = []
    for item in value:
        if not isinstance(item, str) or not item or len(item) > 1024 or "\x00" in item:
            raise JobFileError(path, line, "each image must be a relative path")
        candidate = Path(item)
        if candidate.is_absolute():
            raise JobFileError(path, line, f"image path {_short(item)!r} must be relative")
        resolved = (base / candidate).resolve()
        if not resolved.is_relative_to(base):
            raise JobFileError(path, line, f"image path {_short(item)!r} leaves the job folder")
        out.append(resolved)
    return tuple(out)


def shard_of(job_id: str, shards: int) -> int:
    """The shard (1-based) a job belongs to: a stable hash of its id, not its position."""
    import zlib

    return zlib.crc32(job_id.encode()) % shards + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)`` with 1 <= K <= N <= 1024."""
    match = re.fullmatch(r"\s*(\d{1,4})\s*/\s*(\d{1,4})\s*", text)
    if match is None:
        raise JobFileError("--shard", 0, f"expected K/N, got {_short(text)!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n <= 1024:
        raise JobFileError("--shard", 0, f"need 1 <= K <= N <= 1024, got {k}/{n}")
    return k, n


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a value")


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_JOBS",
    "Format",
    "Job",
    "load_images",
    "parse_jobs",
    "parse_shard",
    "read_jobs",
    "shard_of",
]
