"""Imagen ``models/{model}:predict`` on the Gemini API: minimal text-to-image support.

Imagen is being phased out of the Gemini API (the google-genai SDK dropped it),
so this adapter covers only generation: prompt, sample count, aspect ratio and
the documented parameters. Filtered samples are dropped; when every sample was
filtered the call is a ``ContentBlocked(stage="output")``. Errors use the same
``google.rpc.Status`` envelope as Gemini and map the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..catalogue.policy import CataloguePolicy
from ..catalogue.validate import RequestValidator, today_of
from ..errors import ContentBlocked, InvalidRequest
from ..model import Call, GenerationRequest, GenerationResult, Image, Usage
from ..request_checks import check_model_name
from ..safety.categories import UNSPECIFIED
from . import _wire
from .gemini import DEFAULT_BASE_URL, google_error
from .options import check_options
from .transport import HttpTransport, RawResponse

DEFAULT_MODEL = "imagen-4.0-generate-001"
#: Every ``request.options`` name this provider reads; any other is an InvalidRequest.
IMAGEN_OPTIONS = frozenset(
    {"image_size", "person_generation", "negative_prompt", "output_format", "output_compression"}
)
#: Aspect ratios Imagen accepts.
ASPECT_RATIOS: tuple[str, ...] = ("1:1", "3:4", "4:3", "9:16", "16:9")
#: ``finish_reason`` when some samples were filtered; ``reason`` when all were.
RAI_FILTERED = "RAI_FILTERED"


class ImagenProvider:
    """Imagen text-to-image (``:predict``). Edits and history are not supported.

    Per call, ``request.seed`` is sent as ``seed`` and ``request.options`` may set
    ``negative_prompt``, ``image_size`` (``sampleImageSize``), ``person_generation``,
    ``output_format`` and ``output_compression`` (``outputOptions``).

    ``include_rai_reason`` asks the API to say why a sample was filtered (the
    reason becomes ``ContentBlocked.reason``); ``person_generation``
    (``dont_allow|allow_adult|allow_all``), ``output_mime_type`` and ``image_size``
    (``1K|2K``) are sent when set.
    """

    name = "imagen"

    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = "v1beta",
        person_generation: str | None = None,
        include_rai_reason: bool = True,
        output_mime_type: str | None = None,
        image_size: str | None = None,
        catalogue: CataloguePolicy | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.person_generation = person_generation
        self.include_rai_reason = include_rai_reason
        self.output_mime_type = output_mime_type
        self.image_size = image_size
        self._key = _wire.Secret(api_key)
        self._headers = _wire.SecretHeaders(
            {"x-goog-api-key": api_key, "content-type": "application/json"}
        )
        self._validator = RequestValidator(self.name, catalogue)
        defaults = {"person_generation": person_generation, "image_size": image_size}
        self._defaults = {k: v for k, v in defaults.items() if v is not None}

    def url_for(self, model: str) -> str:
        name = quote(check_model_name(model).removeprefix("models/"), safe="")
        return f"{self.base_url}/{self.api_version}/models/{name}:predict"

    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        if request.images or request.history:
            raise InvalidRequest(
                "imagen: input images and conversation history are not supported; "
                "use GeminiProvider for edits",
                field="images" if request.images else "history",
            )
        options = request.options or {}
        check_options("imagen", options, IMAGEN_OPTIONS)
        parameters: dict[str, Any] = {"sampleCount": request.n}
        ratio = request.aspect_ratio
        image_size = options.get("image_size") or self.image_size
        size = request.size
        if size and size != "auto":
            if size.upper() in ("1K", "2K"):
                image_size = size.upper()
            elif ratio is None:
                dims = _wire.parse_size(size)
                if dims is None:
                    raise InvalidRequest(
                        f"imagen: size {size!r} is not WIDTHxHEIGHT",
                        field="size",
                        value=size,
                        allowed=("1K", "2K", "WIDTHxHEIGHT"),
                    )
                ratio = _wire.nearest_ratio(*dims, ASPECT_RATIOS)
        if ratio:
            parameters["aspectRatio"] = ratio
        person = options.get("person_generation") or self.person_generation
        if person:
            parameters["personGeneration"] = person
        if options.get("negative_prompt"):
            parameters["negativePrompt"] = str(options["negative_prompt"])
        if request.seed is not None:
            parameters["seed"] = request.seed
        if self.include_rai_reason:
            parameters["includeRaiReason"] = True
        output = self._output_options(options)
        if output:
            parameters["outputOptions"] = output
        if image_size:
            parameters["sampleImageSize"] = str(image_size).upper()
        return {"instances": [{"prompt": request.prompt}], "parameters": parameters}

    def _output_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        output: dict[str, Any] = {}
        fmt = options.get("output_format")
        mime = f"image/{fmt}" if fmt else self.output_mime_type
        if mime:
            output["mimeType"] = mime
        if options.get("output_compression") is not None:
            output["compressionQuality"] = options["output_compression"]
        return output

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        self._validator.check(
            call.request, call.model, today=today_of(call.clock.wall()), defaults=self._defaults
        )
        body = _wire.dumps(self.build_body(call.request))
        raw = await transport.request(
            "POST", self.url_for(call.model), headers=self._headers, body=body, provider=self.name
        )
        if 200 <= raw.status < 300:
            return self.parse_result(raw, call)
        raise google_error(raw, provider=self.name, api_key=self._key.get(), now=call.clock.wall())

    def parse_result(self, raw: RawResponse, call: Call) -> GenerationResult:
        with _wire.response_errors(self.name, raw.status, None):
            data = _wire.as_dict(_wire.loads(raw.body), "body")
            predictions = _wire.opt_list(data, "predictions", "body") or []
            images: list[Image] = []
            filtered: list[str] = []
            for index, item in enumerate(predictions):
                where = f"predictions[{index}]"
                entry = _wire.as_dict(item, where)
                encoded = entry.get("bytesBase64Encoded")
                if encoded is None:
                    reason = _wire.lenient_str(entry.get("raiFilteredReason"))
                    filtered.append(reason or "filtered")
                    continue
                mime = _wire.opt_str(entry, "mimeType", where) or "image/png"
                images.append(Image(_wire.b64decode(encoded, f"{where}.bytesBase64Encoded"), mime))
        if not images:
            text = _wire.provider_text(
                filtered[0] if filtered else "no predictions", self._key.get()
            )
            blocked = ContentBlocked(
                f"imagen: every sample was filtered by the provider: {text}",
                stage="output",
                category=UNSPECIFIED,
                source="provider",
                reason=RAI_FILTERED,
                provider=self.name,
                status=raw.status,
            )
            blocked.billing = "billed"  # an answer came back; Imagen bills delivered images
            blocked.usage = Usage(images=0)
            raise blocked
        return GenerationResult(
            images=tuple(images),
            generation_id=call.generation_id,
            provider=self.name,
            model=call.model,
            seed=None,
            finish_reason=RAI_FILTERED if filtered else None,
            usage=Usage(images=len(images)),
        )

    def __repr__(self) -> str:
        return f"ImagenProvider(model={self.model!r}, base_url={self.base_url!r})"


__all__ = ["ASPECT_RATIOS", "DEFAULT_MODEL", "RAI_FILTERED", "ImagenProvider"]
