"""Attribute and metric names: the GenAI semantic conventions plus genguard's own.

The ``gen_ai.*`` names live in OpenTelemetry's *incubating* semantic conventions,
which are marked as moved to their own repository and may be renamed or dropped
from the Python package. genguard keeps its own copies so an upgrade of
``opentelemetry-semantic-conventions`` can never break an import; a test checks
them against the installed names, so a rename is caught, not silently diverged from.
"""

from __future__ import annotations

from typing import Final

# -- OpenTelemetry GenAI conventions (attributes) --------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
ERROR_TYPE: Final = "error.type"

# -- values -------------------------------------------------------------------------------
OPERATION_GENERATE_CONTENT: Final = "generate_content"
OUTPUT_TYPE_IMAGE: Final = "image"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

#: genguard provider id -> ``gen_ai.provider.name`` well-known value.
PROVIDER_NAMES: Final[dict[str, str]] = {
    "gemini": "gcp.gemini",
    "openai": "openai",
    "vertex": "gcp.vertex_ai",
}

# -- OpenTelemetry GenAI conventions (metrics) ------------------------------------------
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"

#: Bucket boundaries the GenAI conventions advise for the two client histograms.
OPERATION_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_USAGE_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
#: Limiter waits are short and many; finer at the low end than the call histogram.
LIMITER_WAIT_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

# -- genguard attributes ------------------------------------------------------------------
GENERATION_ID: Final = "genguard.generation_id"
ATTEMPT: Final = "genguard.attempt"
ATTEMPTS: Final = "genguard.attempts"
PARTITION_KEY: Final = "genguard.partition_key"
OUTCOME: Final = "genguard.outcome"
PROMPT_SHA256: Final = "genguard.prompt.sha256"
PROMPT_LENGTH: Final = "genguard.prompt.length"
IMAGES: Final = "genguard.images"
RETRY_REASON: Final = "genguard.retry.reason"
RETRY_DELAY: Final = "genguard.retry.delay"
RETRY_HINT_SOURCE: Final = "genguard.retry.hint_source"
LIMITER_KEY: Final = "genguard.limiter.key"
LIMITER_REASON: Final = "genguard.limiter.reason"
LIMITER_SECONDS: Final = "genguard.limiter.seconds"
LIMITER_SOURCE: Final = "genguard.limiter.source"
BREAKER_KEY: Final = "genguard.breaker.key"
BREAKER_STATE: Final = "genguard.breaker.state"
BREAKER_FROM: Final = "genguard.breaker.from"
BREAKER_TO: Final = "genguard.breaker.to"
BREAKER_REASON: Final = "genguard.breaker.reason"
SAFETY_STAGE: Final = "genguard.safety.stage"
SAFETY_CATEGORY: Final = "genguard.safety.category"
SAFETY_CATEGORIES: Final = "genguard.safety.categories"
SAFETY_SCORES: Final = "genguard.safety.scores"
SAFETY_SOURCE: Final = "genguard.safety.source"
SAFETY_ACTION: Final = "genguard.safety.action"
SAFETY_ALLOWED: Final = "genguard.safety.allowed"
SAFETY_CLASSIFIER: Final = "genguard.safety.classifier"
FALLBACK_FROM: Final = "genguard.fallback.from"
FALLBACK_TO: Final = "genguard.fallback.to"
FALLBACK_REASON: Final = "genguard.fallback.reason"
BACKEND_COMPONENT: Final = "genguard.backend.component"
BACKEND_ACTION: Final = "genguard.backend.action"
STREAM_TIME_TO_FIRST_PARTIAL: Final = "genguard.stream.time_to_first_partial"
STREAM_PARTIALS: Final = "genguard.stream.partials"
STREAM_PARTIAL_INDEX: Final = "genguard.stream.partial_index"
STREAM_RESTARTS: Final = "genguard.stream.restarts"
STREAM_RESTART_REASON: Final = "genguard.stream.restart_reason"
TENANT: Final = "genguard.tenant"
COST_SETTLED: Final = "genguard.cost.settled"
COST_POSSIBLY_BILLED: Final = "genguard.cost.possibly_billed"
COST_CURRENCY: Final = "genguard.cost.currency"
BILLING_STATUS: Final = "genguard.billing.status"
BILLING_AMOUNT: Final = "genguard.billing.amount"
BUDGET_WINDOW: Final = "genguard.budget.window"

# -- genguard span and event names ----------------------------------------------------
ATTEMPT_SPAN: Final = "genguard.attempt"
EVENT_RETRY_SCHEDULED: Final = "genguard.retry.scheduled"
EVENT_RETRY_GAVE_UP: Final = "genguard.retry.gave_up"
EVENT_LIMITER_WAITED: Final = "genguard.limiter.waited"
EVENT_LIMITER_PAUSED: Final = "genguard.limiter.paused"
EVENT_BREAKER_CHANGED: Final = "genguard.breaker.changed"
EVENT_SAFETY_VERDICT: Final = "genguard.safety.verdict"
EVENT_FALLBACK_USED: Final = "genguard.fallback.used"
EVENT_BACKEND_ERROR: Final = "genguard.backend.error"
EVENT_NOTICE: Final = "genguard.notice"
EVENT_STREAM_PARTIAL: Final = "genguard.stream.partial"
EVENT_STREAM_RESTARTED: Final = "genguard.stream.restarted"

# -- genguard metrics (name, unit) --------------------------------------------------------
METRIC_CALLS: Final = "genguard.calls"
METRIC_CALLS_ACTIVE: Final = "genguard.calls.active"
METRIC_ATTEMPTS: Final = "genguard.attempts"
METRIC_RETRIES: Final = "genguard.retries"
METRIC_RETRY_GAVE_UP: Final = "genguard.retry.gave_up"
METRIC_LIMITER_WAIT: Final = "genguard.limiter.wait.duration"
METRIC_LIMITER_PAUSES: Final = "genguard.limiter.pauses"
METRIC_BREAKER_STATE: Final = "genguard.breaker.state"
METRIC_BREAKER_TRANSITIONS: Final = "genguard.breaker.transitions"
METRIC_SAFETY_VERDICTS: Final = "genguard.safety.verdicts"
METRIC_SAFETY_BLOCKS: Final = "genguard.safety.blocks"
METRIC_FALLBACKS: Final = "genguard.fallbacks"
METRIC_BACKEND_ERRORS: Final = "genguard.backend.errors"
METRIC_IMAGES: Final = "genguard.images"
METRIC_STREAM_FIRST_PARTIAL: Final = "genguard.stream.time_to_first_partial"
METRIC_STREAM_PARTIALS: Final = "genguard.stream.partials"
METRIC_STREAM_RESTARTS: Final = "genguard.stream.restarts"
METRIC_COST: Final = "genguard.cost"
METRIC_COST_POSSIBLY_BILLED: Final = "genguard.cost.possibly_billed"
METRIC_POSSIBLY_BILLED_DUPLICATES: Final = "genguard.billing.possibly_billed_duplicates"
METRIC_BILLED_ATTEMPTS: Final = "genguard.billing.attempts"
METRIC_BUDGET_REMAINING: Final = "genguard.budget.remaining"

#: Breaker state as a number, so one gauge series per key can be graphed and alerted on.
BREAKER_STATE_VALUES: Final[dict[str, int]] = {"closed": 0, "half_open": 1, "open": 2}
