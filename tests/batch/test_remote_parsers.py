"""Whatever a Batch API answers, a line or a status becomes a result or a typed error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from genguard import Client
from genguard.batch.gemini_batch import GeminiBatchAPI
from genguard.batch.gemini_batch import _status as gemini_status
from genguard.batch.openai_batch import OpenAIBatchAPI
from genguard.batch.openai_batch import _status as openai_status
from genguard.batch.remote import RemoteStatus, safe_id
from genguard.clock import FakeClock
from genguard.errors import GenGuardError
from genguard.model import GenerationRequest, GenerationResult
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.transport import HttpTransport
from genguard.sim.batch import _gemini_lines, _openai_lines

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
KEYS = ["custom_id", "response", "status_code", "body", "error", "code", "message", "key",
        "data", "b64_json", "candidates", "content", "parts", "inlineData", "metadata",
        "state", "batchStats", "request_counts", "status", "errors", "done"]  # fmt: skip
shaped = st.recursive(
    st.none() | st.integers(-5, 600) | st.sampled_from(["k", "completed", "aGVsbG8=", "x"]),
    lambda inner: (
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=5) | st.lists(inner, max_size=2)
    ),
    max_leaves=14,
)
STATUS = RemoteStatus("completed", "completed")


def _call() -> Any:
    return Client(GeminiProvider("k")).new_call(GenerationRequest("p"))


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, shaped))
def test_status_answers_are_always_a_status(value: Any) -> None:
    for parse in (gemini_status, openai_status):
        status = parse(value if isinstance(value, dict) else {"metadata": value})
        assert status.outcome in ("running", "completed", "failed", "expired", "cancelled")
        assert status.total >= 0


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, shaped), st.sampled_from(["k", "other"]))
def test_result_lines_are_a_result_an_error_or_ignored(value: Any, key: str) -> None:
    transport, clock = HttpTransport(), FakeClock()
    openai = OpenAIBatchAPI(OpenAIProvider("sk-secretsecretsecret"), transport, clock)
    gemini = GeminiBatchAPI(GeminiProvider("AIzaSecretSecretSecretSecret00"), transport, clock)
    calls = {"k": _call()}
    item = value if isinstance(value, dict) else {"response": value}
    line = json.dumps({"custom_id": key, **item}).encode()
    got = openai._line(line, "batch_1", STATUS, calls)
    assert got is None or isinstance(got[1], GenerationResult | GenGuardError)
    if got is not None and isinstance(got[1], GenGuardError):
        assert "secret" not in str(got[1]).lower()
    result = gemini._line(item, calls["k"])
    assert isinstance(result, GenerationResult | GenGuardError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.one_of(json_values, shaped))
def test_the_simulator_reads_any_batch_input_without_crashing(data: bytes, config: Any) -> None:
    lines, problem = _openai_lines(data, "/v1/images/generations")
    assert (problem is None) == bool(lines)
    spec = config if isinstance(config, dict) else {"requests": config}
    lines, problem, _ = _gemini_lines(spec, {"files/a": data})
    assert (problem is None) == bool(lines)


@given(st.text(max_size=40))
def test_ids_in_url_paths_are_safe(value: str) -> None:
    got = safe_id(value)
    if got is not None:
        assert ".." not in got and "?" not in got and "#" not in got and got.count("/") <= 1
