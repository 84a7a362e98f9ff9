"""The official ``google-genai`` client as a genguard provider: Gemini API and Vertex AI.

Bring the ``google.genai.Client`` you already have (API key, service account,
ADC, Vertex project and location, proxies, custom ``HttpOptions``); genguard
puts its layers around it. Each request goes out with
``HttpRetryOptions(attempts=1)``, which turns off both the SDK's tenacity
retries and its implicit retry of connection errors (a 1-10 s sleep), so
genguard's retry layer is the only one and obeys server hints and the deadline.

Requests are built and answers read by the same code as the built-in
:class:`~genguard.providers.gemini.GeminiProvider`: the SDK's response is turned
back into the JSON it came from, and an ``APIError`` into its status and body,
so blocks, finish reasons, thought signatures, ``RetryInfo`` hints and errors
come out exactly as they do without the SDK. Needs the ``sdk`` extra.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import enum
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AttemptTimeout, ProviderUnavailable
from ..model import Call, GenerationResult
from .gemini import DEFAULT_MODEL, GeminiProvider, SafetySettings, google_error
from .transport import HttpTransport, RawResponse

if TYPE_CHECKING:
    from google import genai


def _genai() -> Any:
    try:
        from google import genai
    except ModuleNotFoundError:
        raise ImportError(
            "GenAISDKProvider needs the google-genai package: pip install 'genguard[sdk]'"
        ) from None
    return genai


class GenAISDKProvider:
    """Gemini image generation through ``client.aio.models.generate_content``.

    ``client`` is a ``google.genai.Client`` (``vertexai=True`` for Vertex AI).
    ``model``, ``safety_settings``, ``response_modalities`` and ``image_size`` mean
    what they mean on :class:`GeminiProvider`. The SDK holds the credentials;
    genguard never reads them, and redacts the API key from any text it reports.
    """

    name = "gemini"

    def __init__(
        self,
        client: genai.Client,
        *,
        model: str = DEFAULT_MODEL,
        safety_settings: SafetySettings | None = None,
        response_modalities: tuple[str, ...] = ("TEXT", "IMAGE"),
        image_size: str | None = None,
    ) -> None:
        genai = _genai()
        if not isinstance(client, genai.Client):
            raise TypeError(f"client must be a google.genai.Client, got {type(client).__name__}")
        #: The client as given (close it when done: ``await provider.client.aio.aclose()``).
        self.client = client
        self._client = client
        self._types = genai.types
        self._errors = genai.errors
        self.model = model
        self._key = getattr(getattr(client, "_api_client", None), "api_key", None) or ""
        # Builds bodies and reads answers exactly as the built-in provider does.
        self._wire = GeminiProvider(
            "sdk-credentials",
            model=model,
            safety_settings=safety_settings,
            response_modalities=response_modalities,
            image_size=image_size,
        )
        self.vertexai = bool(getattr(getattr(client, "_api_client", None), "vertexai", False))

    def _config(self, body: Mapping[str, Any]) -> Any:
        types = self._types
        config = dict(body.get("generationConfig") or {})
        if body.get("safetySettings"):
            config["safetySettings"] = body["safetySettings"]
        built = types.GenerateContentConfig.model_validate_json(json.dumps(config))
        return built.model_copy(
            update={
                "http_options": types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))
            }
        )

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        del transport  # the SDK has its own HTTP client (and proxy, auth, mTLS settings)
        self._wire.check(call)  # the model catalogue's check, as the built-in provider does
        body = self._wire.build_body(call.request, call.model)
        types = self._types
        contents = [types.Content.model_validate_json(json.dumps(c)) for c in body["contents"]]
        loop = asyncio.get_running_loop()
        try:
            response = await self._client.aio.models.generate_content(
                model=call.model, contents=contents, config=self._config(body)
            )
        except self._errors.APIError as exc:
            raw = RawResponse(
                status=int(exc.code or 500),
                headers=_headers(getattr(exc, "response", None)),
                body=json.dumps(exc.details).encode() if exc.details is not None else b"",
                received_at=loop.time(),
            )
            raise google_error(
                raw, provider=self.name, api_key=self._key, now=call.clock.wall()
            ) from None
        except TimeoutError as exc:
            raise AttemptTimeout(f"{self.name}: the SDK request timed out", timeout=0.0) from exc
        except OSError as exc:
            raise ProviderUnavailable(
                f"{self.name}: connection failed ({type(exc).__name__})",
                code="connection_error",
                provider=self.name,
            ) from exc
        except Exception as exc:
            if _is_transport_error(exc):
                raise ProviderUnavailable(
                    f"{self.name}: connection failed ({type(exc).__name__})",
                    code="connection_error",
                    provider=self.name,
                ) from exc
            raise
        data = response.model_dump(by_alias=True, exclude_none=True, exclude={"sdk_http_response"})
        raw = RawResponse(
            status=200,
            headers=_headers(getattr(response, "sdk_http_response", None)),
            body=json.dumps(data, default=_wire_value).encode(),
            received_at=loop.time(),
        )
        return self._wire.parse_result(raw, call)

    def __repr__(self) -> str:
        where = "vertexai" if self.vertexai else "gemini-api"
        return f"GenAISDKProvider(model={self.model!r}, backend={where!r})"


def _wire_value(value: object) -> object:
    """JSON for what the SDK decoded: bytes back to standard base64, enums to their names."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _headers(source: Any) -> dict[str, str]:
    headers = getattr(source, "headers", None)
    if not headers:
        return {}
    try:
        return {str(k).lower(): str(v) for k, v in dict(headers).items()}
    except (TypeError, ValueError):
        return {}


def _is_transport_error(exc: Exception) -> bool:
    """httpx and aiohttp transport failures, without importing either."""
    module = type(exc).__module__
    return module.startswith(("httpx", "aiohttp", "httpcore"))


__all__ = ["GenAISDKProvider"]
