"""The simulator's HTTP server: routes, request flow, rendering and lifecycle.

Flow of one request: authenticate → parse → violation check → choose a reply
(script, then signature check, then profile, else success) → render in the
API's wire format → account the hint it carried → record.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import logging
import os
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.streams import StreamReader

from ..clock import Clock, SystemClock
from . import wire
from .batch import BatchBackend
from .capture import Capture, capture_middleware, render_plain
from .hints import Hint, RetryAccounting, hint_of, parse_duration
from .imagen import PREDICT, parse_predict, predict_filtered, render_success
from .ledger import Ledger, output_tokens_per_image
from .log import Api, RequestRecord, max_in_window
from .models import model_error
from .png import cached_png, colour_for, expand_tokens, png_token, scale
from .profiles import DEFAULT_FLAG_WORDS, Profile, flagged_categories, make_profile, prompt_fraction
from .replies import Reply
from .requests import (
    RequestError,
    SimRequest,
    parse_gemini,
    parse_moderation,
    parse_openai_edit,
    parse_openai_generation,
    pick,
)
from .signatures import SignatureIssuer
from .streaming import StreamPlan, send_stream, wants_stream

logger = logging.getLogger("genguard.sim")

INVALID_KEY = "invalid-key"
RETIRED_GEMINI_MODELS = frozenset(
    {
        "gemini-2.0-flash-exp",
        "gemini-2.0-flash-exp-image-generation",
        "gemini-2.5-flash-image-preview",
    }
)
SCRIPT_APIS = ("gemini", "openai", "moderations", "files", "*")
_HTML_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
_DROP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class Simulator:
    """A local Gemini + OpenAI image API with fault injection, on 127.0.0.1.

    ``async with Simulator("flaky", failure_rate=0.5) as sim:`` serves on a free
    port (``sim.base_url``). Extra keyword arguments are the profile's options.
    ``record=False`` keeps only counters (for long benchmarks).
    ``moderation_words`` maps a word to the moderation categories it flags.
    ``clock`` stamps arrivals and drives time-based profiles, retry-hint accounting
    and HTTP dates, and every delay sleeps on it (scripted and profile delays, stalls
    and the pacing of streams), so a ``FakeClock`` makes them deterministic and a
    10 s stall costs no real time. ``stream`` is the
    default ``StreamPlan`` (or its fields as a mapping) for requests that ask to stream.
    ``capture=True`` keeps every request's raw method, path, headers and body in
    ``sim.captured`` (see ``genguard.sim.capture``).
    """

    def __init__(
        self,
        profile: str = "clean",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        strict_signatures: bool = True,
        max_image_side: int = 256,
        record: bool = True,
        moderation_words: Mapping[str, Sequence[str]] | None = None,
        clock: Clock | None = None,
        stream: StreamPlan | Mapping[str, Any] | None = None,
        capture: bool = False,
        **profile_options: Any,
    ) -> None:
        if max_image_side < 1:
            raise ValueError("max_image_side must be >= 1")
        self.host = host
        self.port = port
        self.seed = seed
        self.strict_signatures = strict_signatures
        self.max_image_side = max_image_side
        self.record = record
        self.moderation_words: dict[str, tuple[str, ...]] = {
            w: tuple(c) for w, c in (moderation_words or DEFAULT_FLAG_WORDS).items()
        }
        self.profile_name = profile
        self.clock: Clock = clock or SystemClock()
        #: How streams unfold unless a scripted ``Reply.stream`` says otherwise.
        self.stream_plan = (
            stream if isinstance(stream, StreamPlan) else StreamPlan(**(stream or {}))
        )
        self._profile: Profile = self._make_profile(profile, profile_options)
        self.log: list[RequestRecord] = []
        #: What a provider would bill: every generation completed, delivered or not.
        self.ledger = Ledger()
        self.requests = 0
        self.status_counts: Counter[int] = Counter()
        self._scripts: dict[str, deque[Reply]] = {}
        self._accounting = RetryAccounting()
        self._signatures = SignatureIssuer(seed)
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        #: The Files and Batch APIs of both providers (``batches.faults`` to inject faults).
        self.batches = BatchBackend(self)
        #: Every request as it arrived, when ``capture=True`` (else stays empty).
        self.captured = Capture()
        self._capture = capture

    # -- public API ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` once started."""
        if self._base_url is None:
            raise RuntimeError("the simulator is not running; use 'async with Simulator()'")
        return self._base_url

    @property
    def retry_after_violations(self) -> int:
        """Requests that came back before the retry hint of an earlier response allowed."""
        return self._accounting.violations

    @property
    def profile(self) -> Profile:
        return self._profile

    def set_profile(self, name: str, **options: Any) -> None:
        """Switch profile live; time-based profiles (outage) start counting now."""
        profile = self._make_profile(name, options)
        profile.start(self.clock.now())
        self._profile = profile
        self.profile_name = name

    def _make_profile(self, name: str, options: dict[str, Any]) -> Profile:
        if name == "httpdate" and not isinstance(self.clock, SystemClock):
            options = {"wall": self.clock.wall, **options}  # dates on the injected clock
        return make_profile(name, self.seed, **options)

    def script(self, api: str, replies: Iterable[Reply]) -> None:
        """Queue replies for ``api`` ("gemini", "openai", "moderations", "files" for the
        image downloads, or "*" for both image APIs); each is used once, before the
        profile is consulted."""
        if api not in SCRIPT_APIS:
            raise ValueError(f"api must be one of {SCRIPT_APIS}, got {api!r}")
        items = list(replies)
        for r in items:
            if not isinstance(r, Reply):
                raise TypeError(f"script items must be Reply, got {type(r).__name__}")
        self._scripts.setdefault(api, deque()).extend(items)

    def pending_scripts(self, api: str | None = None) -> int:
        """How many scripted replies are still queued (for ``api`` or all)."""
        if api is not None:
            return len(self._scripts.get(api, ()))
        return sum(len(q) for q in self._scripts.values())

    def clear_scripts(self) -> None:
        self._scripts.clear()

    def clear_log(self) -> None:
        """Forget recorded requests and counters (violations and hints included)."""
        self.log.clear()
        self.requests = 0
        self.status_counts.clear()
        self._accounting.clear()
        self.ledger.clear()

    def max_in_window(
        self, seconds: float = 1.0, api: str | None = None, statuses: Iterable[int] | None = None
    ) -> int:
        """Most requests (of ``api``, with a status in ``statuses``) seen in any
        sliding window of ``seconds``. Needs ``record=True``."""
        return max_in_window(self.log, seconds, api, statuses)

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        middlewares = [capture_middleware(self.captured)] if self._capture else []
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=middlewares)
        for version in ("v1beta", "v1"):  # google-genai 3.x calls v1 by default
            app.router.add_post(f"/{version}/models/{{model}}:generateContent", self._gemini)
            app.router.add_post(f"/{version}/models/{{model}}:streamGenerateContent", self._gemini)
            app.router.add_post(f"/{version}/models/{{model}}:predict", self._imagen)
        app.router.add_post("/v1/images/generations", self._openai_generation)
        app.router.add_post("/v1/images/edits", self._openai_edit)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_get("/files/{name}.png", self._file)
        self.batches.register(app)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.25
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{shown}:{port}"
        self._runner = runner
        self._profile.start(self.clock.now())

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"Simulator(profile={self.profile_name!r}, base_url={self._base_url!r})"

    # -- routes ----------------------------------------------------------------------

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        key = request.headers.get("x-goog-api-key") or request.query.get("key") or None

        async def parse() -> SimRequest:
            raw = await request.read()
            return parse_gemini(request.path, model, raw, key)

        return await self._handle(request, "gemini", key, model, parse)

    async def _imagen(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        key = request.headers.get("x-goog-api-key") or request.query.get("key") or None

        async def parse() -> SimRequest:
            return parse_predict(request.path, model, await request.read(), key)

        return await self._handle(request, "gemini", key, model, parse)

    async def _openai_generation(self, request: web.Request) -> web.StreamResponse:
        key = _bearer(request)

        async def parse() -> SimRequest:
            raw = await request.read()
            return parse_openai_generation(request.path, raw, key)

        return await self._handle(request, "openai", key, None, parse)

    async def _openai_edit(self, request: web.Request) -> web.StreamResponse:
        key = _bearer(request)

        async def parse() -> SimRequest:
            fields, files, digest = await _read_multipart(request)
            return parse_openai_edit(request.path, fields, files, digest, key)

        return await self._handle(request, "openai", key, None, parse)

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        key = _bearer(request)

        async def parse() -> SimRequest:
            raw = await request.read()
            return parse_moderation(request.path, raw, key)

        return await self._handle(request, "moderations", key, None, parse)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        scripted = self._scripts.get("files")
        if scripted:
            return render_plain(scripted.popleft())
        name = request.match_info["name"]
        try:
            _, dims, colour = name.split("-")
            w, h = (int(v) for v in dims.split("x"))
            if not (0 < w <= 4096 and 0 < h <= 4096):
                raise ValueError(name)
            data = cached_png(w, h, int(colour))[0]
        except ValueError:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="image/png")

    # -- request flow ----------------------------------------------------------------

    async def _handle(
        self,
        request: web.Request,
        api: Api,
        key: str | None,
        path_model: str | None,
        parse: Callable[[], Awaitable[SimRequest]],
    ) -> web.StreamResponse:
        now, wall = self.clock.now(), self.clock.wall()
        auth = _auth_error(api, key)
        if auth is not None:
            await request.read()
            status, body = auth
            return self._finish(request, api, now, path_model, None, None, False, status, body, {})
        try:
            sreq = await parse()
        except RequestError as exc:
            return self._finish(
                request, api, now, path_model, None, None, False, exc.status, exc.body, {}
            )
        except (ValueError, LookupError, AssertionError):  # malformed multipart framing
            body = _error_body(api, 400, "The request body could not be parsed.")
            return self._finish(request, api, now, path_model, None, None, False, 400, body, {})
        sreq.seed += self.seed
        identity = (api, key, sreq.digest)
        violation = self._accounting.check(identity, now, wall)
        unfit = model_error(sreq)
        if unfit is not None:
            return self._finish(
                request, api, now, sreq.model, sreq.prompt, sreq.body, violation, 400, unfit, {}
            )
        reply = self._choose(sreq, now)
        try:
            return await self._render(request, sreq, reply, now, violation, identity)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:  # a simulator bug must still answer in the API's format
            logger.exception("simulator failed to render %s", reply.kind)
            body = _error_body(api, 500, "The simulator failed to build this response.")
            return self._finish(
                request, api, now, sreq.model, sreq.prompt, sreq.body, violation, 500, body, {}
            )

    def _choose(self, sreq: SimRequest, now: float) -> Reply:
        scripted = self._next_script(sreq.api)
        if scripted is not None:
            return scripted
        if sreq.api == "gemini":
            if sreq.model in RETIRED_GEMINI_MODELS:
                return Reply.status(404, body=wire.gemini_not_found(sreq.model))
            bad = self._signature_error(sreq)
            if bad is not None:
                return Reply.status(400, body=bad)
        if sreq.api == "moderations":
            return Reply.ok()
        return self._profile.decide(sreq, now) or Reply.ok()

    def _next_script(self, api: Api) -> Reply | None:
        for name in (api, "*") if api != "moderations" else (api,):
            queue = self._scripts.get(name)
            if queue:
                return queue.popleft()
        return None

    def _signature_error(self, sreq: SimRequest) -> dict[str, Any] | None:
        if not self.strict_signatures or not sreq.model.startswith("gemini-3"):
            return None
        for ci, content in enumerate(sreq.options["contents"]):
            if content.get("role") != "model":
                continue
            for pi, part in enumerate(content.get("parts") or ()):
                if part.get("thought"):
                    continue
                sig = pick(part, "thoughtSignature", "thought_signature")
                if sig is None:
                    if pick(part, "inlineData", "inline_data") is not None:
                        return wire.gemini_missing_signature(ci + 1, pi + 1)
                elif not self._signatures.valid(sig):
                    return wire.gemini_invalid_signature(ci + 1, pi + 1)
        return None

    # -- rendering -------------------------------------------------------------------

    async def _render(
        self,
        request: web.Request,
        sreq: SimRequest,
        reply: Reply,
        now: float,
        violation: bool,
        identity: tuple[str, str | None, str],
    ) -> web.StreamResponse:
        stall = 0.0
        if reply.kind == "delay":
            assert reply.then is not None
            if reply.before == "headers":
                try:
                    await self.clock.sleep(reply.seconds)
                except asyncio.CancelledError:  # the client gave up: record it as nginx does
                    self._record(sreq.api, now, request.path, sreq, 499, violation, None)
                    if reply.then.kind in ("ok", "truncated") and sreq.api != "moderations":
                        self.ledger.charge(sreq, self._success(sreq), delivered=False)
                    raise
            else:
                stall = reply.seconds
            reply = reply.then
        kind = reply.kind

        if kind == "reset":  # the work was done; the connection died on the way back
            if sreq.api != "moderations":
                self.ledger.charge(sreq, self._success(sreq), delivered=False)
            self._accounting.update(identity, None, now)
            self._record(sreq.api, now, request.path, sreq, 0, violation, None)
            _reset(request)
            return _Aborted()
        if kind == "huge":
            self._accounting.update(identity, None, now)
            self._record(sreq.api, now, request.path, sreq, 200, violation, None)
            return await _stream_huge(request, reply.size, self._base_headers(sreq))
        if kind == "html":
            page = _HTML_PAGE.format(code=reply.code, reason=_REASONS.get(reply.code, "Error"))
            self._accounting.update(identity, None, now)
            self._record(sreq.api, now, request.path, sreq, reply.code, violation, None)
            return web.Response(status=reply.code, text=page, content_type="text/html")

        if kind in ("ok", "stream") and wants_stream(sreq):
            return await self._stream(request, sreq, reply, now, violation, identity)
        if kind == "stream":
            reply = Reply.ok()
        status, body, headers = self._build(sreq, reply)
        hint = hint_of(headers, body, self.clock.now(), self.clock.wall())
        self._accounting.update(identity, hint, now)
        self._record(sreq.api, now, request.path, sreq, status, violation, hint)
        bill = None
        if 200 <= status < 300 and sreq.api != "moderations":
            bill = self.ledger.charge(sreq, body, delivered=kind != "truncated")
        payload = wire.encode_body(body)
        if kind in ("ok", "truncated", "blocked"):  # Imagen's partly filtered results
            payload = expand_tokens(payload)
        if kind == "truncated":
            return await _send_truncated(request, payload, headers, reply.keep, reply.close)
        if stall:
            try:
                return await _send_stalled(
                    request, status, payload, headers, self.clock.sleep, stall
                )
            except (asyncio.CancelledError, ConnectionError):
                if bill is not None:
                    self.ledger.mark_undelivered(bill)
                raise
        return web.Response(status=status, body=payload, headers=headers)

    async def _stream(
        self,
        request: web.Request,
        sreq: SimRequest,
        reply: Reply,
        now: float,
        violation: bool,
        identity: tuple[str, str | None, str],
    ) -> web.StreamResponse:
        plan = reply.plan if reply.plan is not None else self.stream_plan
        status, body, headers = self._build(sreq, Reply.ok(headers=reply.headers))
        self._accounting.update(identity, None, now)
        self._record(sreq.api, now, request.path, sreq, status, violation, None)
        # A generation that ran is billed, delivered or not; one that failed is not.
        bill = None
        if plan.fault != "error":
            bill = self.ledger.charge(sreq, body, delivered=plan.fault is None)
        size = scale(sreq.width, sreq.height, self.max_image_side)
        try:
            resp = await send_stream(request, sreq, body, headers, plan, self.clock.sleep, size)
        except (asyncio.CancelledError, ConnectionError):
            if bill is not None:
                self.ledger.mark_undelivered(bill)
            raise
        return resp if resp is not None else _Aborted()

    def _build(self, sreq: SimRequest, reply: Reply) -> tuple[int, Any, dict[str, str]]:
        """Status, body object and headers for every reply that is a plain response."""
        headers = self._base_headers(sreq)
        kind = reply.kind
        if kind in ("ok", "truncated"):
            headers.update(reply.headers)
            return 200, self._success(sreq), headers
        if kind == "fixture":
            fixture_headers = {
                k: v for k, v in reply.headers.items() if k.lower() not in _DROP_HEADERS
            }
            if isinstance(reply.body, str):
                fixture_headers.setdefault("content-type", "text/plain")
            return reply.code, reply.body, fixture_headers
        if kind == "blocked":
            return self._blocked(sreq, reply, headers)
        # status
        body = reply.body
        if body is None:
            if sreq.api == "gemini" and reply.retry_info is not None:
                if reply.code == 429 and reply.message is None:
                    seconds = _duration_or_zero(reply.retry_info)
                    body = wire.gemini_retry_info_error(sreq.model, reply.retry_info, seconds)
                else:
                    retry = {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": reply.retry_info,
                    }
                    body = wire.gemini_error(reply.code, reply.message, details=[retry])
            else:
                body = _error_body(sreq.api, reply.code, reply.message)
        elif isinstance(body, str):
            headers["content-type"] = "text/plain; charset=utf-8"
        if reply.retry_after is not None:
            headers["retry-after"] = reply.retry_after
        if reply.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{reply.retry_after_ms:g}"
        headers.update(reply.headers)
        return reply.code, body, headers

    def _base_headers(self, sreq: SimRequest) -> dict[str, str]:
        if sreq.api == "gemini":
            return dict(wire.GEMINI_HEADERS)
        headers = {"content-type": "application/json", "x-request-id": self._request_id()}
        headers.update(wire.OPENAI_BASE_HEADERS)
        if sreq.api == "openai":
            headers.update(wire.OPENAI_NOMINAL_LIMITS)
        return headers

    def _request_id(self) -> str:
        return f"req_{self._id_prefix}{next(self._ids):024x}"

    def _response_id(self) -> str:
        digest = hashlib.blake2b(
            f"{self._id_prefix}:{next(self._ids)}".encode(), digest_size=18
        ).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:23]

    def _success(self, sreq: SimRequest) -> dict[str, Any]:
        if sreq.options.get("method") == PREDICT:
            w, h = scale(sreq.width, sreq.height, self.max_image_side)
            colours = [colour_for(sreq.prompt, sreq.seed, i) for i in range(sreq.n)]
            return render_success(sreq, w, h, colours)
        if sreq.api == "gemini":
            return self._gemini_success(sreq)
        if sreq.api == "openai":
            return self._openai_success(sreq)
        return self._moderation_success(sreq)

    def _gemini_success(self, sreq: SimRequest) -> dict[str, Any]:
        w, h = scale(sreq.width, sreq.height, self.max_image_side)
        b64 = png_token(w, h, colour_for(sreq.prompt, sreq.seed))
        response_id = self._response_id()
        text = "Here is the image you asked for."
        want_image = sreq.options["want_image"]
        prompt_tokens = max(1, len(sreq.prompt) // 4) + 258 * sreq.options["input_images"]
        image = {"inlineData": {"mimeType": "image/png", "data": b64}}
        if sreq.model.startswith("gemini-3"):
            parts: list[dict[str, Any]] = [
                {
                    "text": "**Planning the composition**\n\nSketching the layout first.",
                    "thought": True,
                }
            ]
            if want_image:
                thought_b64 = png_token(w, h, colour_for(sreq.prompt, sreq.seed, 1))
                parts.append(
                    {"inlineData": {"mimeType": "image/png", "data": thought_b64}, "thought": True}
                )
            parts.append(
                {"text": text, "thoughtSignature": self._signatures.issue(response_id + ":t")}
            )
            if want_image:
                parts.append(
                    image | {"thoughtSignature": self._signatures.issue(response_id + ":i")}
                )
            tokens = output_tokens_per_image(
                sreq.model, sreq.options.get("image_size"), None, default=1120
            )
            usage = wire.gemini_usage(prompt_tokens, tokens if want_image else 0, 12, thoughts=217)
        else:
            parts = [{"text": text}]
            if want_image:
                parts.append(image)
            tokens = output_tokens_per_image(sreq.model, None, None, default=1290)
            usage = wire.gemini_usage(prompt_tokens, tokens if want_image else 0, 12)
        return wire.gemini_success(
            model=sreq.model, response_id=response_id, parts=parts, usage=usage
        )

    def _openai_success(self, sreq: SimRequest) -> dict[str, Any]:
        w, h = scale(sreq.width, sreq.height, self.max_image_side)
        colours = [colour_for(sreq.prompt, sreq.seed, i) for i in range(sreq.n)]
        opts = sreq.options
        created = int(time.time())
        if sreq.model.startswith("dall-e"):
            fmt = opts.get("response_format", "url")
            data: list[dict[str, Any]] = []
            for c in colours:
                item: dict[str, Any] = (
                    {"b64_json": png_token(w, h, c)}
                    if fmt == "b64_json"
                    else {"url": f"{self.base_url}/files/img-{w}x{h}-{c}.png"}
                )
                if sreq.model == "dall-e-3":
                    item["revised_prompt"] = f"A detailed rendering of: {sreq.prompt}"
                data.append(item)
            return {"created": created, "data": data}
        quality = opts.get("quality", "auto")
        billed = "medium" if quality == "auto" else quality
        return {
            "created": created,
            "background": opts.get("background")
            if opts.get("background") in ("transparent", "opaque")
            else "opaque",
            "data": [{"b64_json": png_token(w, h, c)} for c in colours],
            "output_format": "png",
            "quality": billed,
            "size": opts.get("size") or f"{sreq.width}x{sreq.height}",
            "usage": wire.openai_images_usage(
                sreq.prompt,
                sreq.n,
                opts["input_images"],
                output_tokens_per_image(sreq.model, f"{sreq.width}x{sreq.height}", billed),
            ),
        }

    def _moderation_success(self, sreq: SimRequest) -> dict[str, Any]:
        results = [
            wire.moderation_result(flagged_categories(text, self.moderation_words), has_image)
            for text, has_image in sreq.options["groups"]
        ]
        digest = hashlib.blake2b(sreq.digest.encode(), digest_size=8).hexdigest()
        return {"id": f"modr-{digest}", "model": sreq.model, "results": results}

    def _blocked(
        self, sreq: SimRequest, reply: Reply, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        cats = list(reply.categories) or ["violence"]
        prompt_tokens = max(1, len(sreq.prompt) // 4)
        if sreq.options.get("method") == PREDICT:  # Imagen: RAI-filtered samples
            w, h = scale(sreq.width, sreq.height, self.max_image_side)
            keep = [png_token(w, h, colour_for(sreq.prompt, sreq.seed))] if sreq.n > 1 else []
            return (
                200,
                predict_filtered(sreq, keep if reply.reason == "image_safety" else []),
                headers,
            )
        if sreq.api == "gemini":
            reason = reply.reason
            if reason not in ("image_safety", "prompt"):
                reason = (
                    "image_safety" if prompt_fraction(sreq.prompt, "gemini") < 0.5 else "prompt"
                )
            make = (
                wire.gemini_image_safety if reason == "image_safety" else wire.gemini_prompt_blocked
            )
            return (
                200,
                make(
                    model=sreq.model, response_id=self._response_id(), prompt_tokens=prompt_tokens
                ),
                headers,
            )
        if sreq.api == "moderations":
            return (
                200,
                {
                    "id": "modr-blocked",
                    "model": sreq.model,
                    "results": [wire.moderation_result(cats)],
                },
                headers,
            )
        reason = reply.reason
        if reason not in ("content_policy", "moderation"):
            reason = "content_policy" if sreq.model.startswith("dall-e") else "moderation"
        if reason == "content_policy":
            return 400, wire.openai_content_policy(), headers
        stage = "input" if prompt_fraction(sreq.prompt, "stage") < 0.5 else "output"
        return 400, wire.openai_moderation_blocked(headers["x-request-id"], stage, cats), headers

    # -- bookkeeping -----------------------------------------------------------------

    def _finish(
        self,
        request: web.Request,
        api: Api,
        now: float,
        model: str | None,
        prompt: str | None,
        body: Any,
        violation: bool,
        status: int,
        error_body: dict[str, Any],
        extra_headers: Mapping[str, str],
    ) -> web.StreamResponse:
        headers = (
            dict(wire.GEMINI_HEADERS)
            if api == "gemini"
            else {"content-type": "application/json", "x-request-id": self._request_id()}
            | wire.OPENAI_BASE_HEADERS
        )
        headers.update(extra_headers)
        self.requests += 1
        self.status_counts[status] += 1
        if self.record:
            self.log.append(
                RequestRecord(now, api, request.path, model, prompt, status, body, violation, None)
            )
        return web.Response(status=status, body=wire.encode_body(error_body), headers=headers)

    def _record(
        self,
        api: Api,
        now: float,
        path: str,
        sreq: SimRequest,
        status: int,
        violation: bool,
        hint: Hint | None,
    ) -> None:
        self.requests += 1
        self.status_counts[status] += 1
        if self.record:
            self.log.append(
                RequestRecord(
                    now,
                    api,
                    path,
                    sreq.model,
                    sreq.prompt,
                    status,
                    sreq.body,
                    violation,
                    None if hint is None else hint.seconds,
                )
            )


class _Aborted(web.StreamResponse):
    """Returned after the transport was reset: there is nothing left to send."""

    def __init__(self) -> None:
        super().__init__(status=499)

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _auth_error(api: Api, key: str | None) -> tuple[int, dict[str, Any]] | None:
    if api == "gemini":
        if key is None:
            return 403, wire.gemini_error(403)
        if key == INVALID_KEY:
            return 400, wire.gemini_api_key_invalid()
        return None
    if key is None:
        return 401, wire.openai_missing_key()
    if key == INVALID_KEY:
        return 401, wire.openai_invalid_key(key)
    return None


def _error_body(api: Api, code: int, message: str | None) -> dict[str, Any]:
    if api == "gemini":
        return wire.gemini_error(code, message)
    return wire.openai_error(code, message)


def _duration_or_zero(value: str) -> float:
    parsed = parse_duration(value)
    return 0.0 if parsed is None else parsed


async def _read_multipart(
    request: web.Request,
) -> tuple[dict[str, str], list[dict[str, Any]], str]:
    """Text fields, a summary of each file, and a digest that ignores the boundary."""
    if not request.content_type.startswith("multipart/"):
        raise RequestError(
            400,
            wire.openai_error(
                400,
                "Invalid Content-Type header (expected multipart/form-data).",
            ),
        )
    digest = hashlib.sha256(request.path.encode())
    fields: dict[str, str] = {}
    files: list[dict[str, Any]] = []
    reader = MultipartReader(request.headers, _buffered(request, await request.read()))
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise RequestError(400, wire.openai_error(400, "Nested multipart is not supported."))
        name = part.name or ""
        data = await part.read(decode=False)
        digest.update(b"\x00" + name.encode() + b"\x00" + hashlib.sha256(data).digest())
        if part.filename is not None:
            files.append(
                {
                    "name": name,
                    "filename": part.filename,
                    "content_type": part.headers.get("Content-Type", "application/octet-stream"),
                    "bytes": len(data),
                }
            )
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files, digest.hexdigest()


def _buffered(request: web.Request, raw: bytes) -> StreamReader:
    """The body again as a stream (it was read whole: by a capture, or to bound its size)."""
    stream = StreamReader(request.protocol, 2**16, loop=asyncio.get_running_loop())
    stream.feed_data(raw)
    stream.feed_eof()
    return stream


def _reset(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _send_truncated(
    request: web.Request, payload: bytes, headers: Mapping[str, str], keep: float, close: bool
) -> web.StreamResponse:
    cut = payload[: max(1, int(len(payload) * keep))]
    if not close:
        return web.Response(status=200, body=cut, headers=headers)
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_length = len(payload)
    await resp.prepare(request)
    await resp.write(cut)
    if request.transport is not None:
        request.transport.close()
    return _Aborted()


async def _send_stalled(
    request: web.Request,
    status: int,
    payload: bytes,
    headers: Mapping[str, str],
    sleep: Callable[[float], Awaitable[None]],
    stall: float,
) -> web.StreamResponse:
    """Headers and the first byte, ``stall`` s on the simulator's clock, then the rest."""
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = len(payload)
    await resp.prepare(request)
    await resp.write(payload[:1])
    await sleep(stall)
    await resp.write(payload[1:])
    await resp.write_eof()
    return resp


async def _stream_huge(
    request: web.Request, size: int, headers: Mapping[str, str]
) -> web.StreamResponse:
    head, tail = b'{"padding":"', b'"}'
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_length = size
    await resp.prepare(request)
    remaining = size - len(head) - len(tail)
    chunk = b"x" * 65536
    try:
        await resp.write(head)
        while remaining > 0:
            n = min(remaining, len(chunk))
            await resp.write(chunk[:n])
            remaining -= n
        await resp.write(tail)
        await resp.write_eof()
    except ConnectionError:
        return _Aborted()
    return resp


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    profile: str = "clean",
    *,
    announce: Callable[[str], None] | None = None,
    **options: Any,
) -> None:
    """Run a simulator until cancelled, printing one line with its URL.

    ``options`` are ``Simulator`` keyword arguments (seed, strict_signatures,
    record, ...) and profile options. ``announce`` replaces the print.
    """
    async with Simulator(profile, host=host, port=port, **options) as sim:
        line = f"genguard simulator ({profile}) listening on {sim.base_url}"
        if announce is None:
            print(line, flush=True)
        else:
            announce(line)
        await asyncio.Event().wait()


__all__ = ["Simulator", "serve"]
