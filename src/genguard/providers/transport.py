"""The HTTP boundary: one aiohttp session, bounded bodies, transport failures as typed errors.

Providers build requests and parse responses; everything that touches the
socket is here, so there is one place that knows aiohttp's exceptions.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field

from ..billing import mark_sent
from ..errors import (
    AttemptTimeout,
    BillingStatus,
    ClientClosed,
    GenGuardError,
    ProviderUnavailable,
    ResponseError,
)
from ..options import Duration, Int, Options, Size

_E = TypeVar("_E", bound=GenGuardError)

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_UNSET = object()


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A complete HTTP response: status, lower-cased headers, body, loop time when received."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    received_at: float
    url: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class TransportOptions(Options):
    doc: ClassVar[str] = "The one HTTP session the client and its fallback stacks share."

    max_response_bytes: Size = Field(
        DEFAULT_MAX_RESPONSE_BYTES, ge=1, description="Larger bodies are refused, not buffered."
    )
    connect_timeout: Duration = Field(10.0, gt=0, description="Bound on connection set-up.")
    read_timeout: Duration | None = Field(
        300.0, gt=0, description="Socket read timeout; per-attempt time is the timeout layer's."
    )
    connection_limit: Int = Field(0, ge=0, description="Open connections cap; 0 is unlimited.")
    trust_env: bool = Field(
        True, description="Use the proxies in `HTTPS_PROXY`/`HTTP_PROXY`, minus `NO_PROXY`."
    )


class HttpTransport:
    """Owns one ``aiohttp.ClientSession``; created lazily inside the running loop.

    ``max_response_bytes`` caps what is buffered: a larger body is refused with a
    ``ResponseError`` instead of filling memory. ``connect_timeout`` bounds
    connection set-up; per-attempt time is the timeout layer's job. ``trust_env``
    (default on) sends requests through the proxies named in ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` (minus ``NO_PROXY``), like curl and the official SDKs.

    Redirects are never followed: requests carry API keys (``x-goog-api-key``,
    ``Authorization``), and aiohttp strips only ``Authorization`` on a change of
    origin. A 3xx comes back to the provider as it is and becomes a typed error.
    After ``aclose`` the transport stays closed: a retry still in flight gets
    ``ClientClosed`` instead of opening a session nobody would close.
    """

    def __init__(
        self,
        options: TransportOptions | None = None,
        /,
        *,
        session: aiohttp.ClientSession | None = None,
        **fields: Any,
    ) -> None:
        """``HttpTransport(TransportOptions(...))`` or its fields as keywords."""
        self.options = options = TransportOptions.of(options, fields, "transport")
        max_response_bytes = options.max_response_bytes
        connect_timeout, read_timeout = options.connect_timeout, options.read_timeout
        connection_limit, trust_env = options.connection_limit, options.trust_env
        self.max_response_bytes = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._connection_limit = connection_limit
        #: Honour HTTP(S)_PROXY and NO_PROXY, as curl and the official SDKs do.
        self.trust_env = trust_env
        self._proxies: dict[str, str] | None = None
        self._proxy_cache: dict[tuple[str, str], str | None] = {}
        #: Per request URL: its proxy, and the response URL without query as RawResponse
        #: shows it (both depend on the URL alone; bounded, like the proxy cache).
        self._by_url: dict[str, tuple[str | None, str | None]] = {}
        self._session = session
        self._owns_session = session is None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosed("the HTTP transport is closed; no new session is opened")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit, limit_per_host=0)
            # Proxies are picked per request by ``proxy_for`` (not aiohttp's trust_env,
            # which also reads ~/.netrc in a thread on every request).
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
            self._owns_session = True
        return self._session

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url`` (None: connect directly).

        ``HTTPS_PROXY`` / ``HTTP_PROXY`` by scheme, ``NO_PROXY`` honoured, read once
        per transport; off with ``trust_env=False``.
        """
        if not self.trust_env:
            return None
        try:
            parts = urlsplit(url)
            key = (parts.scheme, parts.hostname or "")
        except ValueError:  # not a URL: aiohttp refuses it with its own typed error
            return None
        cached = self._proxy_cache.get(key, _UNSET)
        if cached is not _UNSET:
            return cast("str | None", cached)
        if self._proxies is None:
            self._proxies = urllib.request.getproxies_environment()
        proxy = self._proxies.get(parts.scheme)
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if proxy and bypass(key[1], self._proxies):
            proxy = None
        if len(self._proxy_cache) < 256:
            self._proxy_cache[key] = proxy or None
        return proxy or None

    @property
    def session(self) -> aiohttp.ClientSession | None:
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | aiohttp.FormData | None = None,
        provider: str | None = None,
    ) -> RawResponse:
        """Send one request and read the whole (bounded) response."""
        if self._closed:
            raise ClientClosed("the HTTP transport is closed; the request was not sent")
        session = self._session if self._session is not None and not self._session.closed else None
        if session is None:
            session = await self.open()
        known = self._by_url.get(url)
        proxy = self.proxy_for(url) if known is None else known[0]
        mark_sent()
        try:
            async with session.request(
                method, url, headers=headers, data=body, allow_redirects=False, proxy=proxy
            ) as resp:
                length = resp.content_length
                if length is not None and 0 < length <= self.max_response_bytes:
                    body_bytes = await resp.content.readexactly(length)
                else:
                    body_bytes = await self._read_bounded(resp, provider)
                shown = known[1] if known is not None else None
                if shown is None:
                    shown = str(resp.url.with_query(None))
                    if len(self._by_url) < 256:
                        self._by_url[url] = (proxy, shown)
                return RawResponse(
                    resp.status,
                    {k.lower(): v for k, v in resp.headers.items()},
                    body_bytes,
                    asyncio.get_running_loop().time(),
                    shown,
                )
        except (ResponseError, AttemptTimeout):
            raise
        except aiohttp.ConnectionTimeoutError as exc:
            raise _billing(
                AttemptTimeout(
                    f"{provider or 'provider'}: timed out connecting",
                    timeout=self._timeout.sock_connect or 0.0,
                ),
                "not_sent",
            ) from _without_frames(exc)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _billing(
                AttemptTimeout(
                    f"{provider or 'provider'}: timed out reading the response",
                    timeout=self._timeout.sock_read or 0.0,
                ),
                "uncertain",
            ) from _without_frames(exc)
        except (aiohttp.ClientPayloadError, asyncio.IncompleteReadError) as exc:
            raise _billing(
                ProviderUnavailable(
                    f"{provider or 'provider'}: response body was cut off ({type(exc).__name__})",
                    code="payload_error",
                    provider=provider,
                ),
                "uncertain",
            ) from _without_frames(exc)
        except aiohttp.ClientConnectorError as exc:  # refused or unreachable: nothing left
            raise _billing(
                ProviderUnavailable(
                    f"{provider or 'provider'}: connection failed ({type(exc).__name__})",
                    code="connection_error",
                    provider=provider,
                ),
                "not_sent",
            ) from _without_frames(exc)
        except (aiohttp.ClientConnectionError, ConnectionError, OSError) as exc:
            raise _billing(
                ProviderUnavailable(
                    f"{provider or 'provider'}: connection failed ({type(exc).__name__})",
                    code="connection_error",
                    provider=provider,
                ),
                "uncertain",
            ) from _without_frames(exc)
        except aiohttp.ClientError as exc:
            raise _billing(
                ProviderUnavailable(
                    f"{provider or 'provider'}: HTTP client error ({type(exc).__name__})",
                    code="client_error",
                    provider=provider,
                ),
                "uncertain",
            ) from _without_frames(exc)

    async def _read_bounded(self, resp: aiohttp.ClientResponse, provider: str | None) -> bytes:
        cap = self.max_response_bytes
        length = resp.content_length
        status: BillingStatus = "uncertain" if 200 <= resp.status < 300 else "rejected"
        if length is not None and length > cap:
            raise _billing(
                ResponseError(
                    f"{provider or 'provider'}: response of {length} bytes "
                    f"exceeds the {cap}-byte cap",
                    status=resp.status,
                    provider=provider,
                ),
                status,
            )
        if length is not None:
            return await resp.content.readexactly(length) if length else b""
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > cap:
                raise _billing(
                    ResponseError(
                        f"{provider or 'provider'}: response exceeds the {cap}-byte cap",
                        status=resp.status,
                        provider=provider,
                    ),
                    status,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
        self._session = None

    def __repr__(self) -> str:
        return f"HttpTransport(max_response_bytes={self.max_response_bytes})"


def _billing(error: _E, status: BillingStatus) -> _E:
    """``error`` with its attempt's billing status: whether the request had gone out."""
    error.billing = status
    return error


def _without_frames(error: BaseException) -> BaseException:
    """``error`` (and what it chains) without traceback frames.

    aiohttp's frames hold the request headers, key included, as plain mappings; an
    error reporter that captures locals (Sentry's default) would show them. The
    cause keeps its type and message, which is what a reader needs.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return error


def json_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if extra:
        headers.update(extra)
    return headers


__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "HttpTransport", "RawResponse", "json_headers"]
