"""Masking secrets in text that leaves the process: URLs with passwords, known secret values.

Redaction happens on the way out (a repr, a message, ``config show``), never
before parsing: a value is matched and classified first, and only what is shown
is masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
#: Query parameters that carry a credential (``redis://host/0?password=...``).
SECRET_PARAMS = frozenset(
    {"password", "pass", "passwd", "pwd", "key", "api_key", "token", "secret"}
)
#: Environment variable names that hold secrets by convention.
SECRET_NAME = re.compile(r"(?i)key|token|secret|passw|pwd|credential|auth")


def mask_url(url: str) -> str:
    """``url`` with its password (userinfo or a ``?password=`` style parameter) as ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    if password is not None:
        user = parts.username or ""
        netloc = f"{user}:{MASK}@{host}" + (f":{port}" if port is not None else "")
        parts = parts._replace(netloc=netloc)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(name.lower() in SECRET_PARAMS for name, _ in pairs):
            masked = [(n, MASK if n.lower() in SECRET_PARAMS else v) for n, v in pairs]
            parts = parts._replace(query=urlencode(masked, safe="*"))
    return urlunsplit(parts)


def mask_values(text: str, values: Iterable[str], *, replacement: str = MASK) -> str:
    """``text`` with every occurrence of each of ``values`` (longest first) replaced."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        text = text.replace(value, replacement)
    return text


__all__ = ["MASK", "SECRET_NAME", "SECRET_PARAMS", "mask_url", "mask_values"]
