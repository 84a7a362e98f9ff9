"""genguard keeps its own copies of the incubating GenAI names; they must match the installed."""

from __future__ import annotations

import warnings

from genguard.telemetry import semconv as sc

with warnings.catch_warnings():  # the incubating gen_ai module is marked deprecated (moved repos)
    warnings.simplefilter("ignore")
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga
    from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as gm
    from opentelemetry.semconv.attributes import error_attributes


def test_attribute_names_match_the_installed_conventions() -> None:
    pairs = {
        sc.GEN_AI_OPERATION_NAME: ga.GEN_AI_OPERATION_NAME,
        sc.GEN_AI_PROVIDER_NAME: ga.GEN_AI_PROVIDER_NAME,
        sc.GEN_AI_REQUEST_MODEL: ga.GEN_AI_REQUEST_MODEL,
        sc.GEN_AI_REQUEST_SEED: ga.GEN_AI_REQUEST_SEED,
        sc.GEN_AI_REQUEST_CHOICE_COUNT: ga.GEN_AI_REQUEST_CHOICE_COUNT,
        sc.GEN_AI_RESPONSE_ID: ga.GEN_AI_RESPONSE_ID,
        sc.GEN_AI_RESPONSE_MODEL: ga.GEN_AI_RESPONSE_MODEL,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ga.GEN_AI_RESPONSE_FINISH_REASONS,
        sc.GEN_AI_OUTPUT_TYPE: ga.GEN_AI_OUTPUT_TYPE,
        sc.GEN_AI_USAGE_INPUT_TOKENS: ga.GEN_AI_USAGE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: ga.GEN_AI_USAGE_OUTPUT_TOKENS,
        sc.GEN_AI_TOKEN_TYPE: ga.GEN_AI_TOKEN_TYPE,
        sc.ERROR_TYPE: error_attributes.ERROR_TYPE,
    }
    for ours, theirs in pairs.items():
        assert ours == theirs


def test_values_and_metric_names_match() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ga.GenAiOperationNameValues.GENERATE_CONTENT.value == sc.OPERATION_GENERATE_CONTENT
        assert ga.GenAiOutputTypeValues.IMAGE.value == sc.OUTPUT_TYPE_IMAGE
        assert ga.GenAiTokenTypeValues.INPUT.value == sc.TOKEN_TYPE_INPUT
        assert ga.GenAiTokenTypeValues.OUTPUT.value == sc.TOKEN_TYPE_OUTPUT
        assert sc.PROVIDER_NAMES["gemini"] == ga.GenAiProviderNameValues.GCP_GEMINI.value
        assert sc.PROVIDER_NAMES["openai"] == ga.GenAiProviderNameValues.OPENAI.value
        assert sc.PROVIDER_NAMES["vertex"] == ga.GenAiProviderNameValues.GCP_VERTEX_AI.value
    assert sc.GEN_AI_CLIENT_OPERATION_DURATION == gm.GEN_AI_CLIENT_OPERATION_DURATION
    assert sc.GEN_AI_CLIENT_TOKEN_USAGE == gm.GEN_AI_CLIENT_TOKEN_USAGE


def test_genguard_names_stay_in_their_namespace() -> None:
    own = [
        v
        for k, v in vars(sc).items()
        if k.isupper() and isinstance(v, str) and not k.startswith("GEN_AI")
    ]
    convention_values = {
        sc.ERROR_TYPE, sc.OPERATION_GENERATE_CONTENT, sc.OUTPUT_TYPE_IMAGE,
        sc.TOKEN_TYPE_INPUT, sc.TOKEN_TYPE_OUTPUT,
    }  # fmt: skip
    for name in own:
        assert name in convention_values or name.startswith("genguard."), name
