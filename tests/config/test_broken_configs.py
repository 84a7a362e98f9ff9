"""Table-driven: each broken config gives exactly the expected path and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from genguard.config import ConfigWarning, check

ENV = {"GEMINI_API_KEY": "g-key-for-tests"}
PROVIDER = '{type: gemini, api_key: "${GEMINI_API_KEY}"}'


def stack(layers: str = "[]", extra: str = "") -> str:
    """A one-profile file ``p`` with the given layers (flow YAML) and extra profile keys."""
    return (
        f"version: 1\nprofiles:\n  p:\n    provider: {PROVIDER}\n    deadline: 30s\n"
        f"    layers: {layers}\n{extra}"
    )


CASES: list[tuple[str, str, str, str]] = [
    # (id, file text, expected path, expected reason substring)
    ("empty-file", "", "", "got empty"),
    ("not-a-mapping", "- a\n- b\n", "", "a config file is a mapping"),
    ("yaml-syntax", "version: 1\nprofiles: {p: [}\n", "", "invalid YAML at line 2"),
    (
        "unquoted-ref-in-flow",
        "version: 1\nprofiles: {p: {provider: {api_key: ${K}}}}\n",
        "",
        'quote references: "${VAR}"',
    ),
    ("duplicate-key", "version: 1\nversion: 1\nprofiles: {}\n", "", "duplicate key 'version'"),
    ("missing-version", "profiles: {p: {provider: {type: sim}}}\n", "version", "required"),
    (
        "bad-version",
        "version: 2\nprofiles: {p: {provider: {type: sim}}}\n",
        "version",
        "unsupported version 2",
    ),
    (
        "unknown-top-key",
        "version: 1\nprofile: {}\nprofiles: {p: {provider: {type: sim}}}\n",
        "profile",
        "unknown key (did you mean 'profiles'?)",
    ),
    ("no-profiles", "version: 1\nprofiles: {}\n", "profiles", "at least one profile"),
    ("profile-not-mapping", "version: 1\nprofiles: {p: 3}\n", "profiles.p", "must be a mapping"),
    (
        "extends-unknown",
        "version: 1\nprofiles: {p: {extends: prd, provider: {type: sim}}, prod: {}}\n",
        "profiles.p.extends",
        "unknown profile 'prd' (did you mean 'prod'?)",
    ),
    (
        "extends-self",
        "version: 1\nprofiles: {p: {extends: p}}\n",
        "profiles.p.extends",
        "cannot extend itself",
    ),
    (
        "extends-cycle",
        "version: 1\nprofiles: {a: {extends: b}, b: {extends: c}, c: {extends: a}}\n",
        "profiles.a.extends",
        "cycle: a -> b -> c -> a",
    ),
    (
        "unknown-profile-key",
        stack(extra="    layer: []\n"),
        "profiles.p.layer",
        "unknown key (did you mean 'layers'?)",
    ),
    (
        "missing-provider",
        "version: 1\nprofiles: {p: {deadline: 1s}}\n",
        "profiles.p.provider",
        "required",
    ),
    (
        "unknown-provider",
        "version: 1\nprofiles: {p: {provider: {type: gemeni}}}\n",
        "profiles.p.provider.type",
        "unknown provider 'gemeni' (did you mean 'gemini'?)",
    ),
    (
        "literal-api-key",
        "version: 1\nprofiles: {p: {provider: {type: openai, api_key: sk-abcdef0123456789}}}\n",
        "profiles.p.provider.api_key",
        "a literal API key is not allowed",
    ),
    (
        "missing-api-key",
        "version: 1\nprofiles: {p: {provider: {type: openai}}}\n",
        "profiles.p.provider.api_key",
        "required",
    ),
    (
        "unset-secret-env",
        "version: 1\nprofiles: {p: {provider: {type: openai, api_key: '${OPENAI_API_KEY}'}}}\n",
        "profiles.p.provider.api_key",
        "environment variable OPENAI_API_KEY is not set",
    ),
    (
        "provider-typo",
        "version: 1\nprofiles: {p: {provider: {type: sim, profil: flaky}}}\n",
        "profiles.p.provider.profil",
        "unknown key (did you mean 'profile'?)",
    ),
    (
        "sim-api",
        "version: 1\nprofiles: {p: {provider: {type: sim, api: midjourney}}}\n",
        "profiles.p.provider.api",
        "must be one of 'gemini', 'openai' or 'imagen', got 'midjourney'",
    ),
    (
        "bad-deadline",
        stack(extra="    description: x\n").replace("deadline: 30s", "deadline: soon"),
        "profiles.p.deadline",
        "invalid duration 'soon'",
    ),
    (
        "zero-deadline",
        stack().replace("deadline: 30s", "deadline: 0s"),
        "profiles.p.deadline",
        "must be > 0",
    ),
    (
        "unset-variable",
        stack().replace("deadline: 30s", "deadline: ${DEADLINE}"),
        "profiles.p.deadline",
        "environment variable DEADLINE is not set",
    ),
    ("layers-not-list", stack("retry"), "profiles.p.layers", "must be a list, got string"),
    (
        "unknown-layer",
        stack("[telemetry, retyr]"),
        "profiles.p.layers[1]",
        "unknown layer 'retyr' (did you mean 'retry'?)",
    ),
    (
        "layer-two-keys",
        stack("[{retry: {}, timeout: {}}]"),
        "profiles.p.layers[0]",
        "a layer is a name or a mapping of one name",
    ),
    (
        "layer-number",
        stack("[3]"),
        "profiles.p.layers[0]",
        "a layer is a name or a one-key mapping",
    ),
    (
        "retry-attempts-zero",
        stack("[telemetry, safety, {retry: {attempts: 0}}]"),
        "profiles.p.layers[2].retry.attempts",
        "must be >= 1",
    ),
    (
        "retry-attempts-bool",
        stack("[{retry: {attempts: true}}]"),
        "profiles.p.layers[0].retry.attempts",
        "must be a number, not true",
    ),
    (
        "retry-attempts-float",
        stack("[{retry: {attempts: 2.5}}]"),
        "profiles.p.layers[0].retry.attempts",
        "must be a whole number, got 2.5",
    ),
    (
        "retry-unknown-key",
        stack("[{retry: {attemps: 3}}]"),
        "profiles.p.layers[0].retry.attemps",
        "unknown key (did you mean 'attempts'?)",
    ),
    (
        "backoff-jitter",
        stack("[{retry: {backoff: {jitter: ful}}}]"),
        "profiles.p.layers[0].retry.backoff.jitter",
        "(did you mean 'full'?)",
    ),
    (
        "backoff-max-below-initial",
        stack("[{retry: {backoff: {initial: 10s, max: 1s}}}]"),
        "profiles.p.layers[0].retry.backoff",
        "max must be >= initial",
    ),
    (
        "backoff-duration",
        stack("[{retry: {backoff: {initial: 1 second}}}]"),
        "profiles.p.layers[0].retry.backoff.initial",
        "invalid duration '1 second'",
    ),
    (
        "budget-ratio",
        stack("[{retry: {budget: {ratio: 2}}}]"),
        "profiles.p.layers[0].retry.budget.ratio",
        "must be <= 1",
    ),
    (
        "rate-format",
        stack("[{rate_limit: {requests: 60 per minute}}]"),
        "profiles.p.layers[0].rate_limit.requests",
        "invalid rate '60 per minute'",
    ),
    (
        "rate-nothing",
        stack("[{rate_limit: {key: tenant, adapt: false}}]"),
        "profiles.p.layers[0].rate_limit",
        "set at least one of requests, images, tokens, concurrency",
    ),
    (
        "rate-queue-no-concurrency",
        stack("[{rate_limit: {requests: 1/s, queue: 5}}]"),
        "profiles.p.layers[0].rate_limit",
        "queue needs concurrency",
    ),
    (
        "breaker-ratio",
        stack("[{circuit_breaker: {failure_ratio: 0}}]"),
        "profiles.p.layers[0].circuit_breaker.failure_ratio",
        "must be > 0",
    ),
    (
        "breaker-options-not-mapping",
        stack("[{circuit_breaker: 5}]"),
        "profiles.p.layers[0].circuit_breaker",
        "must be a mapping, got number",
    ),
    (
        "timeout-zero",
        stack("[{timeout: {attempt: 0}}]"),
        "profiles.p.layers[0].timeout.attempt",
        "must be > 0",
    ),
    (
        "safety-classifier",
        stack("[{safety: {input: {classifier: magic}}}]"),
        "profiles.p.layers[0].safety.input",
        "unknown classifier 'magic'",
    ),
    (
        "safety-on-block",
        stack("[{safety: {on_block: ignore}}]"),
        "profiles.p.layers[0].safety.on_block",
        "must be one of 'raise' or 'warn', got 'ignore'",
    ),
    (
        "fallback-empty",
        stack("[{fallback: {to: []}}]"),
        "profiles.p.layers[0].fallback.to",
        "must not be empty",
    ),
    (
        "fallback-unknown-profile",
        stack("[{fallback: {to: [openia]}}]") + "  openai: {provider: {type: sim}}\n",
        "profiles.p.layers[0].fallback.to[0]",
        "unknown profile 'openia' (did you mean 'openai'?)",
    ),
    (
        "fallback-self",
        stack("[{fallback: {to: [p]}}]"),
        "profiles.p.layers[0].fallback.to[0]",
        "cannot fall back to itself",
    ),
    (
        "fallback-loop",
        stack("[{fallback: {to: [q]}}]")
        + "  q: {provider: {type: sim}, layers: [{fallback: {to: [p]}}]}\n",
        "profiles.p.layers[0].fallback.to[0]",
        "fallback loop: p -> q -> p",
    ),
    (
        "fallback-on",
        stack("[{fallback: {to: [q], on: [timeout]}}]") + "  q: {provider: {type: sim}}\n",
        "profiles.p.layers[0].fallback.on[0]",
        "must be one of",
    ),
    (
        "state-redis-no-url",
        stack(extra="    state: {backend: redis}\n"),
        "profiles.p.state",
        "backend redis needs a url",
    ),
    (
        "state-backend",
        stack(extra="    state: {backend: etcd}\n"),
        "profiles.p.state.backend",
        "must be one of 'memory' or 'redis', got 'etcd'",
    ),
    (
        "prometheus-port",
        stack(extra="    telemetry: {prometheus: {port: 70000}}\n"),
        "profiles.p.telemetry.prometheus.port",
        "must be <= 65535",
    ),
    (
        "logs-format",
        stack(extra="    telemetry: {logs: {format: xml}}\n"),
        "profiles.p.telemetry.logs.format",
        "must be one of 'json' or 'console', got 'xml'",
    ),
    (
        "transport-size",
        stack(extra="    transport: {max_response_bytes: lots}\n"),
        "profiles.p.transport.max_response_bytes",
        "invalid size 'lots'",
    ),
    (
        "ignore-unknown-check",
        stack(extra="    ignore_checks: [retry_without_deadlin]\n"),
        "profiles.p.ignore_checks[0]",
        "(did you mean 'retry_without_deadline'?)",
    ),
    (
        "patch-missing-layer",
        stack("[telemetry]") + "  q: {extends: p, layers: {retry: {attempts: 2}}}\n",
        "profiles.q.layers.retry",
        "not in the inherited stack",
    ),
    (
        "patch-inherited-invalid",
        stack("[{retry: {attempts: 3}}]") + "  q: {extends: p, layers: {retry: {attempts: -1}}}\n",
        "profiles.q.layers[0].retry.attempts",
        "must be >= 1",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_config(tmp_path: Path, text: str, path: str, reason: str) -> None:
    file = tmp_path / "stack.yaml"
    file.write_text(text)
    problems = [p for p in check(file, env=ENV) if not isinstance(p, ConfigWarning)]
    assert problems, "expected an error"
    found = [(p.path, p.reason) for p in problems]
    assert any(p == path and reason in r for p, r in found), found
    for problem in problems:
        assert str(problem).startswith(f"{problem.path}: " if problem.path else "")


def test_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_every_error_is_listed_at_once(tmp_path: Path) -> None:
    file = tmp_path / "stack.yaml"
    file.write_text(stack("[retyr, {retry: {attempts: 0}}, {timeout: {attempt: -1s}}]"))
    paths = {p.path for p in check(file, env=ENV)}
    assert {
        "profiles.p.layers[0]",
        "profiles.p.layers[1].retry.attempts",
        "profiles.p.layers[2].timeout.attempt",
    } <= paths


def test_no_secret_in_any_error(tmp_path: Path) -> None:
    file = tmp_path / "stack.yaml"
    file.write_text(
        "version: 1\nprofiles: {p: {provider: {type: openai, api_key: sk-proj-VERYSECRET123456}}}\n"
    )
    problems = check(file, env=ENV)
    assert problems
    assert all("VERYSECRET" not in str(p) and "VERYSECRET" not in repr(p) for p in problems)
