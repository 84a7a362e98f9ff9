"""The official ``openai`` client as a genguard provider: OpenAI and Azure OpenAI.

Bring the ``openai.AsyncOpenAI`` or ``openai.AsyncAzureOpenAI`` you already have
(its key or Azure AD token provider, organization, project, proxies, custom
``http_client``); genguard puts its layers around it. The client is used
through ``with_options(max_retries=0)``: the SDK's own retries (2 by default,
nested inside genguard's otherwise) are off, and genguard's retry layer is the
only one.

Requests are built and answers read by the same code as the built-in
:class:`~genguard.providers.openai.OpenAIProvider`: the SDK's raw HTTP response
(and the one inside an ``APIStatusError``) goes through the same parser and
error mapping, so ``Retry-After``/``retry-after-ms`` hints, ``x-ratelimit-*``,
quota and moderation codes come out exactly as they do without the SDK.
Needs the ``sdk`` extra.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..errors import AttemptTimeout, InvalidRequest, ProviderUnavailable
from ..model import Call, GenerationResult, Image
from .openai import DEFAULT_MODEL, OpenAIProvider, openai_error, rate_limit_info
from .transport import HttpTransport, RawResponse

if TYPE_CHECKING:
    import openai


def _openai() -> Any:
    try:
        import openai
    except ModuleNotFoundError:
        raise ImportError(
            "OpenAISDKProvider needs the openai package: pip install 'genguard[sdk]'"
        ) from None
    return openai


_EXT_BY_MIME = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


class OpenAISDKProvider:
    """OpenAI Images through ``client.images.generate`` / ``client.images.edit``.

    ``client`` is an ``openai.AsyncOpenAI`` or ``openai.AsyncAzureOpenAI``. For Azure,
    ``model`` is the deployment name. ``quality``, ``output_format`` and
    ``moderation`` are sent on every request when set, as on ``OpenAIProvider``.
    The SDK holds the credentials; genguard redacts the key from any text it reports.
    """

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str = DEFAULT_MODEL,
        quality: str | None = None,
        output_format: str | None = None,
        moderation: str | None = None,
    ) -> None:
        openai = _openai()
        if not isinstance(client, openai.AsyncOpenAI):
            raise TypeError(
                "client must be an openai.AsyncOpenAI or openai.AsyncAzureOpenAI, "
                f"got {type(client).__name__}"
            )
        self._openai = openai
        #: The client as given (close it when done: ``await provider.client.close()``).
        self.client = client
        self._client = client.with_options(max_retries=0)
        self.model = model
        self.azure = isinstance(client, openai.AsyncAzureOpenAI)
        self._key = client.api_key or ""
        # Builds bodies and reads answers exactly as the built-in provider does.
        self._wire = OpenAIProvider(
            "sdk-credentials",
            model=model,
            base_url=str(client.base_url),
            quality=quality,
            output_format=output_format,
            moderation=moderation,
        )

    @property
    def max_retries(self) -> int:
        """The SDK client's own retries as used here: always 0."""
        return int(self._client.max_retries)

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        request = call.request
        model = call.model
        self._wire.check(call)  # the model catalogue's check, as the built-in provider does
        extra_headers = (
            {"idempotency-key": request.idempotency_key} if request.idempotency_key else None
        )
        images = self._client.images.with_raw_response
        try:
            if request.images:
                raw_response = await images.edit(
                    **self._edit_arguments(call), extra_headers=extra_headers
                )
            else:
                raw_response = await images.generate(
                    **self._wire.build_json(request, model), extra_headers=extra_headers
                )
        except self._openai.APIStatusError as exc:
            raise openai_error(
                _raw(exc.response), api_key=self._key, now=call.clock.wall(), provider=self.name
            ) from None
        except self._openai.APITimeoutError as exc:
            raise AttemptTimeout(f"{self.name}: the SDK request timed out", timeout=0.0) from exc
        except self._openai.APIConnectionError as exc:
            raise ProviderUnavailable(
                f"{self.name}: connection failed ({type(exc.__cause__ or exc).__name__})",
                code="connection_error",
                provider=self.name,
            ) from exc
        raw = _raw(raw_response.http_response)
        parsed = self._wire.parse_images(raw)
        fetched = [
            item if isinstance(item, Image) else await self._download(item, transport)
            for item in parsed.items
        ]
        return GenerationResult(
            images=tuple(fetched),
            generation_id=call.generation_id,
            provider=self.name,
            model=model,
            usage=parsed.usage,
            request_id=parsed.request_id,
            rate_limit=rate_limit_info(raw.headers),
            revised_prompt=parsed.revised_prompt,
        )

    def _edit_arguments(self, call: Call) -> dict[str, Any]:
        request = call.request
        files = [
            (f"image-{i}.{_EXT_BY_MIME.get(image.mime_type, 'bin')}", image.data, image.mime_type)
            for i, image in enumerate(request.images)
        ]
        arguments: dict[str, Any] = {
            "model": call.model,
            "prompt": request.prompt,
            "n": request.n,
            "image": files[0] if len(files) == 1 else files,
        }
        arguments.update(
            {k: v for k, v in self._wire.build_json(request, call.model).items() if k == "size"}
        )
        mask = request.options.get("mask") if request.options else None
        if mask is not None:
            if isinstance(mask, bytes | bytearray):
                mask = Image(bytes(mask))
            if not isinstance(mask, Image):
                raise InvalidRequest(
                    "openai: options['mask'] must be an Image or PNG bytes", field="options.mask"
                )
            arguments["mask"] = ("mask.png", mask.data, mask.mime_type)
        return arguments

    async def _download(self, url: str, transport: HttpTransport) -> Image:
        """A dall-e ``url`` image, fetched without credentials like the built-in provider."""
        got = await transport.request("GET", url, headers={}, provider=self.name)
        if got.status != 200 or not got.body:
            raise ProviderUnavailable(
                f"{self.name}: downloading a generated image failed (HTTP {got.status})",
                status=got.status,
                code="image_download",
                provider=self.name,
            )
        content_type = (got.headers.get("content-type") or "").split(";", 1)[0].strip()
        return Image(got.body, content_type if content_type.startswith("image/") else "image/png")

    def __repr__(self) -> str:
        kind = "azure" if self.azure else "openai"
        return f"OpenAISDKProvider(model={self.model!r}, client={kind!r}, max_retries=0)"


def _raw(response: Any) -> RawResponse:
    """The SDK's HTTP response (httpx's shape) as a RawResponse (the SDK read the body)."""
    return RawResponse(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=response.content,
        received_at=asyncio.get_running_loop().time(),
        url=str(response.url.copy_with(query=None)),
    )


__all__ = ["OpenAISDKProvider"]
