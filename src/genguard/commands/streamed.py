"""``genguard generate --stream``: progress as partial images arrive, and the partials on disk.

Each partial is announced on standard error as it arrives (``-q`` silences it)
and, with ``--partials DIR``, written there as ``partial-a<attempt>-<index>.<ext>``.
A restart (a new generation after a failed stream) is announced too, so drafts
of the abandoned generation are not mistaken for the final image's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..cli import EXIT_OUTPUT, CommandError, Output
from ..streaming import Completed, PartialImage, Restarted

if TYPE_CHECKING:
    from ..model import GenerationRequest, GenerationResult
    from ..pipeline import Client

_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def partial_path(directory: Path, event: PartialImage) -> Path:
    """Where partial ``event`` is written: one file per attempt and index."""
    ext = _EXT.get(event.image.mime_type, "bin")
    return directory / f"partial-a{event.attempt}-{event.index}.{ext}"


async def generate_streamed(
    client: Client, request: GenerationRequest, output: Output, partials: Path | None
) -> GenerationResult:
    """Stream ``request``, reporting each event; the final result, or the call's error."""
    if partials is not None:
        try:
            partials.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before any I/O)
        except OSError as exc:
            raise CommandError(
                f"cannot create --partials {partials}: {exc.strerror or type(exc).__name__}",
                exit_code=EXIT_OUTPUT,
            ) from None
    async with client:
        stream = client.stream(request)
        async with stream:
            async for event in stream:
                if isinstance(event, PartialImage):
                    where = ""
                    if partials is not None:
                        path = partial_path(partials, event)
                        path.write_bytes(event.image.data)
                        where = f" -> {path}"
                    output.note(
                        f"partial image {event.index} (attempt {event.attempt}) after "
                        f"{event.elapsed:.1f}s, {len(event.image.data)} bytes{where}"
                    )
                elif isinstance(event, Restarted):
                    output.note(
                        f"the stream broke ({event.reason}); generating again as attempt "
                        f"{event.attempt}, {event.discarded} partial image(s) discarded"
                    )
                elif isinstance(event, Completed):
                    return event.result
    raise AssertionError("a stream that ended without error has a Completed event")


__all__ = ["generate_streamed", "partial_path"]
