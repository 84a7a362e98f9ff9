"""Nothing secret leaves: no API key, prompt text or image bytes in spans, metrics or logs."""

from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from telemetry_support import PNG, FakeProvider, Logs, Metrics, Spans, retry

from genguard import Call, Client, FakeClock, GenerationResult
from genguard.errors import BadRequest, ProviderUnavailable
from genguard.layers.telemetry import TelemetryLayer
from genguard.pipeline import Handler, Scope
from genguard.telemetry.privacy import MAX_TEXT, error_message, flat_fields, scrub

KEY = "sk-proj-SECRETSECRETSECRET0123456789"
GOOGLE_KEY = "AIzaSyD-SECRET-0123456789abcdefghijkl"
PROMPT = "the secret prompt about a purple walrus named Bartholomew"


class Noisy:
    """Reports notices stuffed with secrets, the way a careless layer might."""

    scope: Scope = "attempt"

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        call.observer.notice(
            call,
            "weird_header",
            value=f"Bearer {KEY}",
            prompt=call.request.prompt,
            image=PNG,
            nested={"key": GOOGLE_KEY},
        )
        return await next(call)


def leaks(text: str) -> list[str]:
    needles = {
        "openai key": KEY,
        "google key": GOOGLE_KEY,
        "prompt": PROMPT,
        "prompt fragment": "purple walrus",
        "image bytes": "IMAGEBYTES",
        "image base64": base64.b64encode(PNG).decode()[:24],
    }
    return [name for name, needle in needles.items() if needle in text]


def exported_text(spans: Spans, metrics: Metrics) -> str:
    """Everything spans and metrics carry (logs are checked apart: they may hold the prompt)."""
    parts = [span.to_json() for span in spans.finished()]
    for metric in metrics.metrics().values():
        for point in metric.data.data_points:
            parts.extend(f"{k}={v}" for k, v in (point.attributes or {}).items())
    return "\n".join(parts)


@pytest.mark.parametrize("log_prompts", [False, True])
async def test_no_secret_in_any_span_metric_or_log(
    spans: Spans, metrics: Metrics, logs: Logs, log_prompts: bool
) -> None:
    echoing = BadRequest(f"invalid request {PROMPT!r} with key={KEY} and {GOOGLE_KEY}", status=400)
    unavailable = ProviderUnavailable(f"upstream said: Bearer {KEY} for {PROMPT}", status=503)
    layer = TelemetryLayer(
        tracer_provider=spans.provider,
        meter_provider=metrics.provider,
        logger=logs.logger,
        log_prompts=log_prompts,
    )
    # The real retry layer; the provider is in-process because it must echo secrets no
    # real provider leaves in its errors (they redact their own key first): what is
    # tested here is the telemetry's own scrubbing.
    stack = [layer, retry(attempts=3), Noisy()]
    async with Client(
        FakeProvider(outcomes=[unavailable, None]), stack, clock=FakeClock()
    ) as client:
        await client.generate(PROMPT)
    async with Client(FakeProvider(outcomes=[echoing]), stack, clock=FakeClock()) as client:
        with pytest.raises(BadRequest):
            await client.generate(PROMPT)

    text = exported_text(spans, metrics)
    log_text = logs.text()
    assert len(spans.finished()) == 5  # the check below looked at real output
    assert "genguard.call" in log_text and "invalid request" in text + log_text
    assert leaks(text) == []
    # Opting in to prompt logging puts the prompt in the log lines, and nothing else:
    # not the keys the provider echoed next to it, not the image.
    assert leaks(log_text) == (["prompt", "prompt fragment"] if log_prompts else [])


async def test_prompt_is_logged_only_when_opted_in(logs: Logs) -> None:
    async with Client(
        FakeProvider(), [TelemetryLayer(logger=logs.logger, log_prompts=True)]
    ) as client:
        await client.generate(PROMPT)
    assert leaks(logs.text()) == ["prompt", "prompt fragment"]


key_bodies = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    min_size=24,
    max_size=40,
)
context = st.text(max_size=60)


@given(context, key_bodies, context)
def test_scrub_removes_key_shaped_strings(before: str, body: str, after: str) -> None:
    assume(body not in before and body not in after)
    for key in (f"sk-{body}", f"AIza{body}"):
        text = scrub(f"{before} {key} {after}")
        assert key not in text
        assert body not in text


@given(context, st.text(min_size=4, max_size=40), context)
def test_scrub_removes_the_prompt(before: str, prompt: str, after: str) -> None:
    assert prompt not in scrub(f"{before}{prompt}{after}", prompt)


@given(st.text(max_size=2000), st.text(max_size=30))
def test_scrub_is_total_and_bounded(text: str, prompt: str) -> None:
    out = scrub(text, prompt)
    assert isinstance(out, str)
    assert len(out) <= MAX_TEXT + 3


@given(
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(),
            st.booleans(),
            st.text(max_size=50),
            st.binary(max_size=20),
            st.lists(st.integers(), max_size=3),
        ),
    )
)
def test_flat_fields_keeps_only_scalars(fields: dict[str, object]) -> None:
    out = flat_fields(fields)
    assert set(out) <= set(fields)
    assert all(isinstance(v, str | int | float | bool) for v in out.values())
    assume(any(isinstance(v, bytes) for v in fields.values()))
    assert not any(isinstance(v, bytes) for v in out.values())


def test_error_message_survives_a_broken_str() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert error_message(Broken()) == ""
