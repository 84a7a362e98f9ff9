"""Record what a provider really sent, then serve it again from the simulator.

``RecordingTransport`` is an :class:`~genguard.providers.transport.HttpTransport` that
keeps every response it reads. :meth:`Cassette.save` writes them as JSON with every API
key that went out in a request header scrubbed from the response (and, unless asked to
keep them, prompts and revised prompts dropped). :func:`load_cassette` reads a cassette
back and queues its responses, in order, as simulator scripts, so a test reproduces
exactly what the provider answered, hints and error bodies included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from ..errors import ConfigError
from ..providers.transport import HttpTransport, RawResponse

if TYPE_CHECKING:
    from ..sim import Simulator

CASSETTE_VERSION = 1
#: A cassette larger than this is refused on load (they hold base64 images).
MAX_CASSETTE_BYTES = 64 * 1024 * 1024
REDACTED = "[redacted]"
_SECRET_HEADERS = ("authorization", "x-goog-api-key", "api-key", "x-api-key")
#: Response headers worth replaying: hints, rate-limit state, ids, content type.
_KEEP_HEADERS = ("content-type", "retry-after", "retry-after-ms", "x-request-id")
_PROMPT_FIELDS = frozenset({"revised_prompt", "prompt"})


def api_of(url: str) -> str:
    """Which simulator script queue a request URL belongs to."""
    if ":generateContent" in url or ":streamGenerateContent" in url or ":predict" in url:
        return "gemini"
    if "/moderations" in url:
        return "moderations"
    return "openai"


def _secrets_in(headers: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS and value:
            token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
            found.extend(v for v in (value, token.strip()) if len(v) >= 4)
    return found


def _scrub(value: Any, secrets: list[str], keep_prompts: bool) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [_scrub(v, secrets, keep_prompts) for v in value]
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if not keep_prompts and k in _PROMPT_FIELDS
                else _scrub(v, secrets, keep_prompts)
            )
            for k, v in value.items()
        }
    return value


@dataclass
class Cassette:
    """Recorded interactions: ``{"api", "path", "response": {"status", "headers", "body"}}``."""

    interactions: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        document = {"version": CASSETTE_VERSION, "interactions": self.interactions}
        target.write_text(json.dumps(document, indent=1), encoding="utf-8")
        return target

    def replay_into(self, sim: Simulator) -> int:
        """Queue every recorded response on ``sim``, in order per API; returns how many."""
        from ..sim import Reply

        for item in self.interactions:
            sim.script(item["api"], [Reply.fixture(item["response"])])
        return len(self.interactions)


class RecordingTransport(HttpTransport):
    """An HTTP transport that also writes down every response, redacted, into ``cassette``."""

    def __init__(self, *, keep_prompts: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.cassette = Cassette()
        self.keep_prompts = keep_prompts

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | aiohttp.FormData | None = None,
        provider: str | None = None,
    ) -> RawResponse:
        response = await super().request(method, url, headers=headers, body=body, provider=provider)
        secrets = _secrets_in(headers)
        text = response.body.decode("utf-8", errors="replace")
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = text
        kept = {
            k: v
            for k, v in response.headers.items()
            if k in _KEEP_HEADERS or k.startswith("x-ratelimit-")
        }
        self.cassette.interactions.append(
            {
                "api": api_of(url),
                "path": _scrub(url.split("?", 1)[0], secrets, True),
                "response": {
                    "status": response.status,
                    "headers": _scrub(kept, secrets, True),
                    "body": _scrub(payload, secrets, self.keep_prompts),
                },
            }
        )
        return response


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Read a cassette; a malformed one is a ``ConfigError`` naming what is wrong."""
    source = Path(path)
    try:
        size = source.stat().st_size
        if not source.is_file():
            raise ConfigError(str(source), "a cassette must be a regular file")
        if size > MAX_CASSETTE_BYTES:
            raise ConfigError(str(source), f"cassette of {size} bytes exceeds {MAX_CASSETTE_BYTES}")
        document = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(source), f"cannot read cassette: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(str(source), f"cassette is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != CASSETTE_VERSION:
        raise ConfigError(str(source), f"not a version-{CASSETTE_VERSION} cassette")
    items = document.get("interactions")
    if not isinstance(items, list):
        raise ConfigError(str(source), "'interactions' must be a list")
    for index, item in enumerate(items):
        where = f"interactions[{index}]"
        if not isinstance(item, dict) or item.get("api") not in ("gemini", "openai", "moderations"):
            raise ConfigError(where, "needs 'api': gemini, openai or moderations")
        response = item.get("response")
        if not isinstance(response, dict) or not isinstance(response.get("status"), int):
            raise ConfigError(where, "needs a 'response' with an integer 'status'")
        if not isinstance(response.get("headers", {}), dict):
            raise ConfigError(where, "'response.headers' must be an object")
    return Cassette(items)


__all__ = ["Cassette", "RecordingTransport", "api_of", "load_cassette"]
