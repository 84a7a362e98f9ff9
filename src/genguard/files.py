"""Reading a file named by untrusted text: only a regular file, only inside a root, only so big.

Conversation files name their images and config files name their secret files;
either may come from someone other than the operator. A name such as
``../../etc/passwd``, ``/proc/self/environ`` (which holds the process's API keys),
``/dev/zero`` or a FIFO must not be read, must not exhaust memory and must not
block the event loop. :func:`read_bounded` is the one place that decides, for
every caller:

- the name is resolved (symlinks included) and must stay inside ``root``;
- the file is opened without following a final symlink and without blocking
  (``O_NONBLOCK``: opening a FIFO with no writer would otherwise wait forever),
  then must be a regular file (no FIFO, device, socket or directory);
- at most ``max_bytes + 1`` bytes are read, whatever size the file claims
  (``/proc`` files claim 0), and more than ``max_bytes`` is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """The file may not be read; ``reason`` says why. Callers turn it into their typed error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_CHUNK = 65536


def resolve_inside(root: str | os.PathLike[str], name: str | os.PathLike[str]) -> Path:
    """``root/name`` resolved (symlinks followed); refused unless it stays inside ``root``."""
    text = os.fspath(name)
    if not text or "\x00" in text:
        raise FileRefused("empty name or NUL byte in the file name")
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base / text))
    if target != base and base not in target.parents:
        raise FileRefused("the file is outside the allowed directory")
    return target


def read_bounded(
    root: str | os.PathLike[str], name: str | os.PathLike[str], *, max_bytes: int
) -> bytes:
    """The bytes of regular file ``name`` under ``root``, at most ``max_bytes`` of them."""
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    target = resolve_inside(root, name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise FileRefused(f"cannot open the file ({exc.strerror or type(exc).__name__})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("not a regular file (FIFO, device, socket or directory)")
        if info.st_size > max_bytes:
            raise FileRefused(f"the file is larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise FileRefused(f"the file is larger than {max_bytes} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(f"cannot read the file ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)


__all__ = ["FileRefused", "read_bounded", "resolve_inside"]
