"""The clients compared, behind one small interface: open, generate(prompt), close, is_block.

- ``raw aiohttp``: one POST, read, ``json.loads``, base64-decode the image. The floor.
- ``genguard``: ``Client`` with the full default stack (``genguard.demo.default_stack``).
- ``tenacity+aiolimiter+pybreaker``: what a careful engineer writes in an afternoon
  around the same aiohttp call (see ``Handwritten``).
- ``openai SDK``: ``AsyncOpenAI`` with its built-in retries (OpenAI API only).
- ``google-genai``: Google's SDK with its retries on (Gemini API only).
- ``naive``: 3 retries on fixed 1/2/4 s delays, Retry-After read only as whole seconds.

Every contender builds the request body per call and decodes the image, so the
work compared is the same; what differs is the machinery around the call.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aiohttp
import pybreaker
from aiolimiter import AsyncLimiter
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from genguard import Client, ContentBlocked, GenerationRequest
from genguard.observe import Observer
from genguard.pipeline import Layer

API_KEY = "bench-key-0000"  # the simulator accepts any key but "invalid-key"
GEMINI_MODEL = "gemini-2.5-flash-image"
OPENAI_MODEL = "gpt-image-1"
APIS = ("gemini", "openai")


class HTTPStatusError(Exception):
    """A non-200 answer: the status, the raw Retry-After header, and the body."""

    def __init__(self, status: int, retry_after: str | None, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.body = body


class NoImage(Exception):
    """A 200 whose body holds no image (how a hand-rolled client sees a Gemini safety block)."""


class Contender(Protocol):
    name: str
    api: str

    async def open(self) -> None: ...

    async def generate(self, prompt: str) -> None: ...

    async def close(self) -> None: ...

    def is_block(self, error: BaseException) -> bool: ...


# -- the wire, as a hand-rolled client does it ------------------------------------------------


def build_request(api: str, base_url: str, prompt: str) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and JSON body of one image request."""
    if api == "gemini":
        url = f"{base_url}/v1beta/models/{GEMINI_MODEL}:generateContent"
        headers = {"x-goog-api-key": API_KEY, "content-type": "application/json"}
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
        }
    else:
        url = f"{base_url}/v1/images/generations"
        headers = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
        body = {"model": OPENAI_MODEL, "prompt": prompt, "n": 1}
    return url, headers, json.dumps(body).encode()


def extract_image(api: str, body: bytes) -> bytes:
    """The first image of a 200 body; ``NoImage`` when there is none."""
    try:
        data = json.loads(body)
        if api == "gemini":
            for part in data["candidates"][0]["content"]["parts"]:
                inline = part.get("inlineData")
                if inline:
                    return base64.b64decode(inline["data"])
            raise NoImage("no inlineData part")
        return base64.b64decode(data["data"][0]["b64_json"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise NoImage(f"unexpected body: {type(exc).__name__}") from exc


async def post_once(session: aiohttp.ClientSession, api: str, base_url: str, prompt: str) -> bytes:
    url, headers, body = build_request(api, base_url, prompt)
    async with session.post(url, data=body, headers=headers) as resp:
        data = await resp.read()
        if resp.status != 200:
            raise HTTPStatusError(resp.status, resp.headers.get("retry-after"), data)
    return extract_image(api, data)


def _session(**kwargs: Any) -> aiohttp.ClientSession:
    # The same connector settings as genguard's HttpTransport (no connection cap).
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0), **kwargs
    )


# -- raw aiohttp: the floor -------------------------------------------------------------------


class RawAiohttp:
    """One attempt, no machinery: what every other contender is measured against."""

    def __init__(self, api: str, base_url: str, name: str = "raw aiohttp") -> None:
        self.api = api
        self.base_url = base_url
        self.name = name
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = _session()

    async def generate(self, prompt: str) -> None:
        assert self._session is not None
        await post_once(self._session, self.api, self.base_url, prompt)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def is_block(self, error: BaseException) -> bool:
        return False  # a status code and a body; nothing says "content block"


# -- genguard ---------------------------------------------------------------------------------


def rate_limit_unbound(layers: Sequence[Layer]) -> list[Layer]:
    """The same stack with its rate limit and concurrency cap set out of reach.

    Used where the limiter must not be what is measured (throughput, overhead,
    10,000 in flight): every attempt still goes through the limiter's bookkeeping.
    """
    from genguard.layers.rate_limit import RateLimitLayer

    return [
        RateLimitLayer(requests="1000000/s", concurrency=1_000_000, queue=0)
        if isinstance(layer, RateLimitLayer)
        else layer
        for layer in layers
    ]


def default_layers(
    telemetry: Layer | None = None, *, unbound: bool = False, quick: bool = True
) -> list[Layer]:
    """genguard's full default stack, at simulator time scale (``default_stack(quick=True)``)."""
    from genguard.demo import default_stack

    layers = default_stack(quick=quick, telemetry=telemetry)
    return rate_limit_unbound(layers) if unbound else layers


class Genguard:
    """``Client(provider, layers)`` on the Gemini or OpenAI provider."""

    def __init__(
        self,
        api: str,
        base_url: str,
        layers: Callable[[], Sequence[Layer]],
        *,
        name: str = "genguard",
        deadline: float | None = 30.0,
        on_close: Callable[[], None] | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.api = api
        self.base_url = base_url
        self.name = name
        self._layers = layers
        self._deadline = deadline
        self._on_close = on_close
        self._observer = observer
        self.client: Client | None = None

    async def open(self) -> None:
        from genguard.providers.gemini import GeminiProvider
        from genguard.providers.openai import OpenAIProvider

        provider: Any
        if self.api == "gemini":
            provider = GeminiProvider(API_KEY, model=GEMINI_MODEL, base_url=self.base_url)
        else:
            provider = OpenAIProvider(API_KEY, model=OPENAI_MODEL, base_url=self.base_url)
        self.client = Client(
            provider, self._layers(), deadline=self._deadline, observer=self._observer
        )
        await self.client.__aenter__()

    async def generate(self, prompt: str) -> None:
        assert self.client is not None
        await self.client.generate(GenerationRequest(prompt=prompt))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self._on_close is not None:
            self._on_close()

    def is_block(self, error: BaseException) -> bool:
        return isinstance(error, ContentBlocked)


# -- tenacity + aiolimiter + pybreaker --------------------------------------------------------

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _retryable(error: BaseException) -> bool:
    if isinstance(error, HTTPStatusError):
        return error.status in RETRY_STATUSES
    return isinstance(error, aiohttp.ClientError | asyncio.TimeoutError)


def _not_a_backend_fault(error: BaseException) -> bool:
    """Excluded from the breaker's failure count: client errors and odd bodies."""
    return (isinstance(error, HTTPStatusError) and error.status < 500) or isinstance(error, NoImage)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as a number of seconds; HTTP-dates are not understood."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class _WaitRetryAfter:
    """Exponential jitter, but never less than a numeric Retry-After (capped at 60 s)."""

    def __init__(self, fallback: Callable[[RetryCallState], float]) -> None:
        self.fallback = fallback

    def __call__(self, state: RetryCallState) -> float:
        wait = self.fallback(state)
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, HTTPStatusError):
            hint = retry_after_seconds(error.retry_after)
            if hint is not None:
                wait = max(wait, min(hint, 60.0))
        return wait


class Handwritten:
    """tenacity retry on 429/5xx/connection errors with exponential jitter that honours a
    numeric Retry-After, an aiolimiter rate limit, a pybreaker breaker counting 5xx and
    connection failures, and a per-attempt timeout. Same time scale as genguard's stack.
    """

    def __init__(
        self,
        api: str,
        base_url: str,
        *,
        name: str = "tenacity+aiolimiter+pybreaker",
        rate: float = 100.0,
        attempts: int = 5,
        initial: float = 0.05,
        max_delay: float = 2.0,
        fail_max: int = 8,
        reset_timeout: float = 2.0,
        timeout: float = 5.0,
    ) -> None:
        self.api = api
        self.base_url = base_url
        self.name = name
        self._rate = rate
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.limiter: AsyncLimiter | None = None
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout, exclude=[_not_a_backend_fault]
        )
        self._generate = retry(
            retry=retry_if_exception(_retryable),
            wait=_WaitRetryAfter(wait_random_exponential(multiplier=initial, max=max_delay)),
            stop=stop_after_attempt(attempts),
            reraise=True,
        )(self._attempt)

    async def open(self) -> None:
        self._session = _session(timeout=aiohttp.ClientTimeout(total=self._timeout))
        self.limiter = AsyncLimiter(self._rate, 1.0)

    async def _attempt(self, prompt: str) -> None:
        assert self._session is not None and self.limiter is not None
        async with self.limiter:
            with self.breaker.calling():
                await post_once(self._session, self.api, self.base_url, prompt)

    async def generate(self, prompt: str) -> None:
        await self._generate(prompt)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def is_block(self, error: BaseException) -> bool:
        return False  # an HTTPStatusError(400) or NoImage, like any other bad answer


# -- the official OpenAI SDK ------------------------------------------------------------------

BLOCK_CODES = frozenset({"content_policy_violation", "moderation_blocked"})


class OpenAISDK:
    """``AsyncOpenAI(base_url=simulator)`` with its default retries (2) and timeouts."""

    api = "openai"

    def __init__(self, base_url: str, *, name: str = "openai SDK") -> None:
        self.base_url = base_url
        self.name = name
        self._client: Any = None

    async def open(self) -> None:
        import openai

        self._client = openai.AsyncOpenAI(api_key=API_KEY, base_url=f"{self.base_url}/v1")

    async def generate(self, prompt: str) -> None:
        result = await self._client.images.generate(model=OPENAI_MODEL, prompt=prompt)
        if not result.data or not result.data[0].b64_json:
            raise NoImage("no b64_json")
        base64.b64decode(result.data[0].b64_json)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def is_block(self, error: BaseException) -> bool:
        import openai

        return isinstance(error, openai.BadRequestError) and error.code in BLOCK_CODES


# -- the official google-genai SDK ------------------------------------------------------------


class GoogleGenAI:
    """``google.genai.Client`` against the simulator, retries on (``HttpRetryOptions()``:
    5 attempts, exponential backoff with jitter from 1 s, on 408, 429 and 5xx)."""

    api = "gemini"

    def __init__(self, base_url: str, *, name: str = "google-genai") -> None:
        self.base_url = base_url
        self.name = name
        self._client: Any = None

    async def open(self) -> None:
        from google import genai
        from google.genai import types

        self._client = genai.Client(
            api_key=API_KEY,
            http_options=types.HttpOptions(
                base_url=self.base_url,
                api_version="v1beta",
                retry_options=types.HttpRetryOptions(),
            ),
        )

    async def generate(self, prompt: str) -> None:
        from google.genai import types

        response = await self._client.aio.models.generate_content(
            model=GEMINI_MODEL,
            contents=prompt,
            config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"]),
        )
        for candidate in response.candidates or ():
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.inline_data is not None and part.inline_data.data:
                    return
        raise NoImage("no inline_data part")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()

    def is_block(self, error: BaseException) -> bool:
        return False


# -- naive ------------------------------------------------------------------------------------


class Naive:
    """Retries anything 3 times after 1, 2, 4 s; a Retry-After of whole seconds replaces
    the delay, any other form (dates, decimals, retry-after-ms, RetryInfo) is ignored."""

    DELAYS = (1.0, 2.0, 4.0)

    def __init__(self, api: str, base_url: str, *, name: str = "naive") -> None:
        self.api = api
        self.base_url = base_url
        self.name = name
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession()  # library defaults, as written in a hurry

    async def generate(self, prompt: str) -> None:
        assert self._session is not None
        for attempt in range(len(self.DELAYS) + 1):
            try:
                await post_once(self._session, self.api, self.base_url, prompt)
                return
            except Exception as error:
                if attempt == len(self.DELAYS):
                    raise
                delay = self.DELAYS[attempt]
                header = error.retry_after if isinstance(error, HTTPStatusError) else None
                if header is not None and header.strip().isdigit():
                    delay = float(int(header.strip()))
                await asyncio.sleep(delay)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def is_block(self, error: BaseException) -> bool:
        return False


# -- telemetry for genguard -------------------------------------------------------------------


def sdk_telemetry(exporter: bool = True) -> tuple[Layer, Callable[[], None]]:
    """A ``TelemetryLayer`` on OpenTelemetry SDK providers, logs off.

    ``exporter``: spans through a ``BatchSpanProcessor`` and metrics through a
    ``PeriodicExportingMetricReader``, both to exporters that drop what they get
    (the SDK's export work without a network). Without it: SDK, no exporter.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        MetricsData,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from genguard.layers.telemetry import TelemetryLayer

    class NullSpans(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class NullMetrics(MetricExporter):
        def __init__(self) -> None:
            super().__init__(preferred_temporality={}, preferred_aggregation={})

        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    tracer_provider = TracerProvider()
    if exporter:
        tracer_provider.add_span_processor(BatchSpanProcessor(NullSpans()))
        reader = PeriodicExportingMetricReader(NullMetrics(), export_interval_millis=5_000)
        meter_provider = MeterProvider(metric_readers=[reader])
    else:
        meter_provider = MeterProvider()
    layer = TelemetryLayer(
        tracer_provider=tracer_provider, meter_provider=meter_provider, logs=False
    )

    def close() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return layer, close


def noop_telemetry() -> Layer:
    """A ``TelemetryLayer`` with OpenTelemetry's no-op providers and logs off."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    from genguard.layers.telemetry import TelemetryLayer

    return TelemetryLayer(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), logs=False
    )


def genguard_with_telemetry(api: str, base_url: str, *, unbound: bool) -> Genguard:
    """genguard's default stack with SDK telemetry and batch exporters."""
    holder: dict[str, Callable[[], None]] = {}

    def layers() -> list[Layer]:
        layer, close = sdk_telemetry(exporter=True)
        holder["close"] = close
        return default_layers(layer, unbound=unbound)

    def close() -> None:
        if "close" in holder:
            holder.pop("close")()

    return Genguard(api, base_url, layers, name="genguard + telemetry", on_close=close)
