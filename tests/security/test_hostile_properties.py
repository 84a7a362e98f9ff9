"""Random requests, responses and config documents through the whole stack.

Whatever a caller sends, a server answers or a policy file holds, the outcome is
a result or a typed ``GenGuardError``: no other exception, no hang past the
deadline, and the API key in no output (errors and their reprs, spans, metrics,
log lines, ``config check`` and ``config show``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from capture import Capture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genguard import Client, GenerationRequest, GenerationResult, GenGuardError, Image
from genguard.config import api as config_api
from genguard.errors import ConfigError
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.static import TINY_PNG
from genguard.safety.chain import ClassifierChain
from genguard.safety.rules import RulesClassifier

KEY = "hunter2-plain-looking-credential-42"
DEADLINE = 1.0
PNG_B64 = base64.b64encode(TINY_PNG).decode()


class ScriptServer:
    """One server for all examples, on its own thread: answers with ``next`` (status, headers,
    body bytes), echoing the request's key wherever the body says ``@KEY@``."""

    def __init__(self) -> None:
        self.next: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
        self.served = 0
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def handle(request: web.Request) -> web.StreamResponse:
            await request.read()
            self.served += 1
            status, headers, body = self.next
            key = request.headers.get("x-goog-api-key") or request.headers.get(
                "authorization", ""
            ).removeprefix("Bearer ")
            return web.Response(
                status=status, headers=headers, body=body.replace(b"@KEY@", key.encode())
            )

        async def start() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.base_url = f"http://127.0.0.1:{port}"
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> ScriptServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptServer]:
    with ScriptServer() as running:
        yield running


# -- strategies ---------------------------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=40)  # lone surrogates too
NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=20),
    st.integers(),
    st.sampled_from([10**9, 10**400, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
MIMES = st.sampled_from(
    ["image/png", "image/png", "image/jpeg", "image/png\r\nx: 1", "", "png", "a/b\n"]
)


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Usually a valid value (so calls reach the server), sometimes a hostile one."""
    return st.one_of(valid, valid, valid, hostile)


requests = st.fixed_dictionaries(
    {"prompt": mostly(st.sampled_from(["a cat", "a red kite", "kill it"]), ANY_TEXT)},
    optional={
        "n": mostly(st.integers(1, 3), NUMBERS),
        "token_estimate": mostly(st.none() | st.integers(0, 5000), NUMBERS),
        "deadline": mostly(st.none() | st.floats(0.5, 3.0), NUMBERS),
        "seed": mostly(st.none() | st.integers(0, 2**31), NUMBERS),
        "model": mostly(st.none(), ANY_TEXT | st.sampled_from(["../x", "a:b", "models/x"])),
        "size": mostly(st.sampled_from([None, "1024x1024", "1K"]), ANY_TEXT),
        "aspect_ratio": mostly(st.sampled_from([None, "16:9", "1:1"]), ANY_TEXT),
        "idempotency_key": mostly(st.none() | st.just("job-1"), ANY_TEXT),
        "images": st.lists(st.builds(Image, st.just(TINY_PNG), MIMES), max_size=2).map(tuple),
    },
)

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(["@KEY@", "STOP", "IMAGE_SAFETY", "moderation_blocked", PNG_B64, "1s"]),
    st.text(max_size=20),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["error", "code", "message", "candidates", "data", "b64_json", "finishReason",
             "modelVersion", "responseId", "content", "parts", "inlineData", "details"]
        ) | st.text(max_size=8),
        inner,
        max_size=4,
    ),
    max_leaves=20,
)  # fmt: skip


def _templates() -> st.SearchStrategy[Any]:
    gemini_ok = {
        "candidates": [
            {
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]},
                "finishReason": "@KEY@",
            }
        ],
        "modelVersion": "@KEY@",
        "responseId": "@KEY@",
    }
    openai_ok = {"created": 1, "data": [{"b64_json": PNG_B64, "revised_prompt": "@KEY@"}]}
    error = {"error": {"code": "@KEY@", "message": "key @KEY@ is bad", "type": "@KEY@"}}
    return st.sampled_from([gemini_ok, openai_ok, error])


responses = st.tuples(
    st.sampled_from([200, 200, 201, 204, 301, 307, 400, 401, 403, 404, 408, 413, 429, 500, 503]),
    st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms", "x-request-id", "content-type"]),
        st.one_of(st.sampled_from(["@KEY@", "1", "-1", "1e400", "nan"]), st.text(
            alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)),
        max_size=3,
    ),
    st.one_of(_templates(), JSON).map(lambda body: json.dumps(body).encode())
    | st.binary(max_size=64),
)  # fmt: skip


def _outputs(outcome: object) -> str:
    """Everything about an outcome that genguard itself renders."""
    if isinstance(outcome, GenerationResult):
        return " ".join(str(x) for x in (outcome.model, outcome.finish_reason, outcome.request_id))
    assert isinstance(outcome, BaseException)
    parts = [str(outcome), repr(outcome), *map(repr, outcome.args)]
    parts += [repr(v) for v in vars(outcome).values()]
    return " ".join(parts)


async def _one_call(base_url: str, api: str, fields: dict[str, Any], capture: Capture) -> object:
    provider = (
        GeminiProvider(KEY, base_url=base_url)
        if api == "gemini"
        else OpenAIProvider(KEY, base_url=base_url)
    )
    layers = [
        capture.layer,
        SafetyLayer(input=ClassifierChain([RulesClassifier()])),
        RetryLayer(attempts=2, initial=0.001, max_delay=0.01),
        CircuitBreakerLayer(fail_max=100),
        RateLimitLayer(requests="1000/s", images="1000/s"),
        TimeoutLayer(DEADLINE),
    ]
    async with Client(provider, layers, deadline=DEADLINE) as client:  # type: ignore[arg-type]
        try:
            request = GenerationRequest(**fields)
        except GenGuardError as error:
            return error
        try:
            async with asyncio.timeout(DEADLINE + 2.0):  # a hang would end here
                return await client.generate(request)
        except GenGuardError as error:
            return error


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(api=st.sampled_from(["gemini", "openai"]), fields=requests, response=responses)
def test_random_requests_and_responses_end_typed_on_time_without_the_key(
    server: ScriptServer, api: str, fields: dict[str, Any], response: tuple[Any, ...]
) -> None:
    server.next = response
    capture = Capture()
    with capture:
        outcome = asyncio.run(_one_call(server.base_url, api, fields, capture))
    assert isinstance(outcome, GenerationResult | GenGuardError), repr(outcome)
    assert KEY not in _outputs(outcome)
    assert KEY not in capture.text()


def test_most_random_requests_reach_the_server(server: ScriptServer) -> None:
    # Runs after the property test: the strategies must not be all-invalid requests.
    assert server.served >= 10, server.served  # about a third of 120 examples are valid


# -- config documents ---------------------------------------------------------------------

ENV = {"GEMINI_API_KEY": KEY, "PLAIN": "plain-value", "REDIS_PASSWORD": "redis-secret-pw"}
CONFIG_LEAVES = st.one_of(
    st.sampled_from(
        ["${GEMINI_API_KEY}", "x-${GEMINI_API_KEY}", "${PLAIN}", "${MISSING}", "${",
         "redis://:${REDIS_PASSWORD}@h:1/0", "redis://h:1/0?password=${REDIS_PASSWORD}",
         "30s", "1/s", "gemini", "openai", "sim", "rules", "retry", "telemetry"]
    ),
    st.integers(-3, 100),
    st.booleans(),
    st.none(),
    st.text(max_size=10),
)  # fmt: skip
KEYS = st.sampled_from(
    ["provider", "type", "api_key", "base_url", "model", "deadline", "layers", "state",
     "backend", "url", "extends", "retry", "attempts", "fallback", "to", "telemetry",
     "service_name", "rate_limit", "requests", "file", "env", "options"]
)  # fmt: skip
CONFIG_VALUES = st.recursive(
    CONFIG_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)
RAW_HOSTILE = st.sampled_from(
    [
        "version: 1\nprofiles: " + "[" * 3000 + "]" * 3000,
        "version: 1\na: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: [*f, *f, *f, *f, *f, *f, *f, *f]\nprofiles: {p: {provider: *f}}",
        "version: 1\nprofiles: &p {p: {provider: *p}}",
        "version: 1\nprofiles:\n  p: {provider: {type: gemini, api_key: {file: /dev/zero}}}",
        "\x00\xff",
    ]
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    profiles=st.dictionaries(st.sampled_from(["p", "q", "r"]), CONFIG_VALUES, max_size=3),
    raw=st.one_of(st.none(), RAW_HOSTILE),
)
def test_random_config_documents_end_typed_without_the_key(
    tmp_path: Path, profiles: dict[str, Any], raw: str | None
) -> None:
    path = tmp_path / "genguard.yaml"
    text = raw if raw is not None else yaml.safe_dump({"version": 1, "profiles": profiles})
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    problems = config_api.check(path, env=ENV)
    assert all(isinstance(p, ConfigError) for p in problems)
    checked = "\n".join(f"{p} {p!r}" for p in problems)
    assert KEY not in checked and "redis-secret-pw" not in checked
    for name in list(profiles)[:2] or ["p"]:
        try:
            shown = config_api.show(path, name, env=ENV)
        except ConfigError as error:
            shown = f"{error} {error!r}"
        assert KEY not in shown and "redis-secret-pw" not in shown
