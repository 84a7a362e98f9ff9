"""The builder and a file produce equal ProfileConfig objects for the same stack."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.config import Pipeline, PipelineBuilder, parse_config, resolve_profile

durations = st.sampled_from(["50ms", "1s", "1.5s", "2m", 0.25, 3])
rates = st.sampled_from(["60/min", "5/s", "1000/h", "10/30s", 2])

retry = st.fixed_dictionaries(
    {},
    optional={
        "attempts": st.integers(1, 10),
        "initial": st.sampled_from(["50ms", "1s", 0.5]),
        "max_delay": st.sampled_from(["30s", "1m", 60]),
        "multiplier": st.floats(1, 4),
        "jitter": st.sampled_from(["full", "equal", "decorrelated", "none"]),
        "max_retry_after": durations,
        "budget_ratio": st.floats(0, 1),
    },
)
breaker = st.fixed_dictionaries(
    {},
    optional={
        "fail_max": st.integers(1, 20),
        "reset_timeout": durations,
        "half_open_probes": st.integers(1, 4),
        "failure_ratio": st.floats(0.01, 1),
        "count_rate_limited": st.booleans(),
    },
)
limit = st.fixed_dictionaries(
    {"requests": rates},
    optional={
        "images": rates,
        "concurrency": st.integers(1, 64),
        "key": st.sampled_from(["tenant", "provider/model"]),
    },
)
layer = st.one_of(
    st.tuples(
        st.just("telemetry"), st.fixed_dictionaries({}, optional={"log_prompts": st.booleans()})
    ),
    st.tuples(st.just("retry"), retry),
    st.tuples(st.just("circuit_breaker"), breaker),
    st.tuples(st.just("rate_limit"), limit),
    st.tuples(
        st.just("timeout"), st.fixed_dictionaries({"attempt": st.sampled_from(["10s", "1m", 5])})
    ),
    st.tuples(
        st.just("safety"),
        st.fixed_dictionaries({}, optional={"on_block": st.sampled_from(["raise", "warn"])}),
    ),
)
stacks = st.fixed_dictionaries(
    {
        "api": st.sampled_from(["gemini", "openai"]),
        "deadline": st.one_of(st.none(), durations.filter(lambda d: d != 0)),
        "layers": st.lists(layer, max_size=6),
    }
)


def as_file_layer(name: str, options: dict[str, Any]) -> Any:
    if name == "retry":
        backoff = {
            k2: options[k]
            for k, k2 in (
                ("initial", "initial"),
                ("max_delay", "max"),
                ("multiplier", "multiplier"),
                ("jitter", "jitter"),
            )
            if k in options
        }
        out: dict[str, Any] = {
            k: options[k] for k in ("attempts", "max_retry_after") if k in options
        }
        if backoff:
            out["backoff"] = backoff
        if "budget_ratio" in options:
            out["budget"] = {"ratio": options["budget_ratio"]}
        options = out
    return {name: options} if options else name


def as_builder(stack: dict[str, Any]) -> PipelineBuilder:
    b = Pipeline.builder("p").provider("sim", api=stack["api"])
    if stack["deadline"] is not None:
        b.deadline(stack["deadline"])
    for name, options in stack["layers"]:
        if name == "timeout":
            b.timeout(options["attempt"])
        else:
            getattr(b, name)(**options)
    return b


def valid(stack: dict[str, Any]) -> bool:
    for name, options in stack["layers"]:
        if name == "retry" and "initial" in options and "max_delay" in options:
            from genguard.config import parse_duration

            if parse_duration(options["max_delay"]) < parse_duration(options["initial"]):
                return False
    return True


@settings(max_examples=150, deadline=None)
@given(stacks.filter(valid))
def test_builder_equals_file(stack: dict[str, Any]) -> None:
    profile: dict[str, Any] = {"provider": {"type": "sim", "api": stack["api"]}}
    if stack["deadline"] is not None:
        profile["deadline"] = stack["deadline"]
    profile["layers"] = [as_file_layer(n, o) for n, o in stack["layers"]]
    text = yaml.safe_dump({"version": 1, "profiles": {"p": profile}})
    from_file = resolve_profile(parse_config(text, env={}), "p")
    from_builder = as_builder(stack).build_config(env={})
    assert from_builder == from_file


def test_builder_reports_the_same_errors() -> None:
    import pytest

    from genguard.errors import ConfigErrors

    with pytest.raises(ConfigErrors) as info:
        Pipeline.builder("prod").provider("sim").retry(attempts=0).build_config(env={})
    assert str(info.value) == "profiles.prod.layers[0].retry.attempts: must be >= 1"
