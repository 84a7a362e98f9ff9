"""The typed shape of a policy stack: one pydantic model per section and per layer.

These objects are what a config file and :class:`genguard.config.Pipeline`'s
builder both produce, and the only thing the factory reads. Every field has a
default that is safe in production and a description; ``docs/configuration.md``
is generated from them, so the reference cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PlainSerializer, model_validator

from ..layers.budget import BudgetOptions as BudgetLayerConfig
from ..layers.circuit_breaker import CircuitBreakerOptions as CircuitBreakerLayerConfig
from ..layers.fallback import FallbackOn
from ..layers.fallback import FallbackOptions as FallbackLayerConfig
from ..layers.prompt_policy import PromptPolicyOptions as PromptPolicyLayerConfig
from ..layers.rate_limit import RateLimitOptions as RateLimitLayerConfig
from ..layers.retry import BackoffOptions as BackoffConfig
from ..layers.retry import RetryOptions as RetryLayerConfig
from ..layers.retry_budget import RetryBudgetOptions as RetryBudgetConfig
from ..layers.safety import ClassifierOptions as ClassifierConfig
from ..layers.safety import SafetyOptions as SafetyLayerConfig
from ..layers.telemetry import TelemetryOptions as TelemetryLayerConfig
from ..layers.timeout import TimeoutOptions as TimeoutLayerConfig
from ..options import LayerOptions, Options
from ..providers import gemini, imagen, openai
from ..providers.transport import TransportOptions as TransportConfig
from ..state.options import StateOptions as StateConfig
from ..streaming import StreamOptions as StreamConfig
from ..telemetry.options import LogsOptions as LogsConfig
from ..telemetry.options import PrometheusOptions as PrometheusConfig
from ..telemetry.options import TelemetryExportOptions as TelemetryConfig
from .plugins import LAYER_MODULES, layer_class
from .secrets import Secret
from .values import Duration

SecretField = Annotated[Secret, PlainSerializer(lambda s: s.describe(), return_type=str)]


#: Base of every config model: immutable, and unknown keys are errors.
Section = Options


# -- provider ------------------------------------------------------------------------------


class GeminiProviderConfig(Section):
    doc: ClassVar[str] = "Google Gemini `generateContent` with image output."

    type: Literal["gemini"] = Field(description="Selects this provider.")
    model: str = Field(
        gemini.DEFAULT_MODEL, min_length=1, description="Default model for requests."
    )
    api_key: SecretField = Field(
        description="`${ENV_VAR}`, `{env: NAME}` or `{file: path}`; a literal key is an error."
    )
    base_url: str = Field(
        gemini.DEFAULT_BASE_URL,
        min_length=1,
        description="API root; point it at a proxy or the simulator.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for `GeminiProvider` (checked when built).",
    )


class OpenAIProviderConfig(Section):
    doc: ClassVar[str] = "OpenAI Images (`/v1/images/generations`, `/v1/images/edits`)."

    type: Literal["openai"] = Field(description="Selects this provider.")
    model: str = Field(
        openai.DEFAULT_MODEL, min_length=1, description="Default model for requests."
    )
    api_key: SecretField = Field(
        description="`${ENV_VAR}`, `{env: NAME}` or `{file: path}`; a literal key is an error."
    )
    base_url: str = Field(
        openai.DEFAULT_BASE_URL,
        min_length=1,
        description="API root; point it at a proxy or the simulator.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for `OpenAIProvider` (checked when built).",
    )


class ImagenProviderConfig(Section):
    doc: ClassVar[str] = (
        "Imagen `:predict` on the Gemini API, for users not yet migrated "
        "(retired in the model catalogue; genguard warns and names the successor)."
    )

    type: Literal["imagen"] = Field(description="Selects this provider.")
    model: str = Field(
        imagen.DEFAULT_MODEL, min_length=1, description="Default model for requests."
    )
    api_key: SecretField = Field(
        description="`${ENV_VAR}`, `{env: NAME}` or `{file: path}`; a literal key is an error."
    )
    base_url: str = Field(
        gemini.DEFAULT_BASE_URL,
        min_length=1,
        description="API root; point it at a proxy or the simulator.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for `ImagenProvider` (checked when built).",
    )


class SimProviderConfig(Section):
    doc: ClassVar[str] = (
        "The embedded simulator: the client starts one on 127.0.0.1 and stops it on close. "
        "No API key needed."
    )

    type: Literal["sim"] = Field(description="Selects this provider.")
    api: Literal["gemini", "openai", "imagen"] = Field(
        "gemini", description="Which wire format the simulated provider speaks."
    )
    profile: str = Field(
        "clean",
        min_length=1,
        description="Fault profile: clean, flaky, ratelimit, httpdate, outage, slow, safety.",
    )
    model: str | None = Field(None, description="Model name; the provider's default if unset.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Extra options for the simulator profile."
    )


ProviderConfig = (
    GeminiProviderConfig | OpenAIProviderConfig | ImagenProviderConfig | SimProviderConfig
)
PROVIDER_MODELS: Mapping[str, type[Section]] = {
    "gemini": GeminiProviderConfig,
    "openai": OpenAIProviderConfig,
    "imagen": ImagenProviderConfig,
    "sim": SimProviderConfig,
}


# -- layers --------------------------------------------------------------------------------


#: One entry of ``layers``; each built-in layer declares its own beside its code.
LayerConfig = LayerOptions


class CustomLayerConfig(LayerOptions):
    """A layer from the ``genguard.layers`` entry point group."""

    doc: ClassVar[str] = "A layer installed by a package under entry point group `genguard.layers`."

    name: str = Field(description="The entry point name.")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments.")


#: Built-in layers by the name written in ``layers`` -> their options model (declared
#: beside each layer), in the recommended order. Names come from the one registry.
LAYER_MODELS: Mapping[str, type[LayerConfig]] = {
    name: layer_class(name, "layers").options_model for name in LAYER_MODULES
}


def layer_name(layer: LayerConfig) -> str:
    return layer.name if isinstance(layer, CustomLayerConfig) else layer.layer_name


# -- the profile ---------------------------------------------------------------------------


class ProfileConfig(Section):
    doc: ClassVar[str] = "One deployment's stack, with `extends` already applied."

    name: str = Field(description="The profile's name.")
    description: str | None = Field(None, description="Free text, shown by `config show`.")
    provider: ProviderConfig = Field(description="The API to call.")
    deadline: Duration | None = Field(None, gt=0, description="Bound on a whole call.")
    layers: tuple[LayerConfig, ...] = Field((), description="Outermost first.")
    state: StateConfig = Field(default_factory=StateConfig, description="Shared state.")
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig, description="Exporters.")
    transport: TransportConfig = Field(default_factory=TransportConfig, description="HTTP.")
    stream: StreamConfig = Field(default_factory=StreamConfig, description="Stream defaults.")
    ignore_checks: tuple[str, ...] = Field((), description="Order-check codes to silence.")
    prices: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Price overrides per model (fields of the shipped price table; docs/cost.md).",
    )

    @model_validator(mode="after")
    def _prices(self) -> ProfileConfig:
        if self.prices:
            from ..catalogue.prices import default_prices

            default_prices().with_overrides(self.prices)
        return self

    def layer(self, name: str) -> LayerConfig | None:
        """The first layer called ``name``, if any."""
        return next((lay for lay in self.layers if layer_name(lay) == name), None)


#: Keys a profile may have in a file (``extends`` is applied before validation): the
#: fields of ``ProfileConfig``, so a new section is one field there.
PROFILE_KEYS: tuple[str, ...] = (
    "extends",
    *(key for key in ProfileConfig.model_fields if key != "name"),
)
#: The profile's sections that are one options model each (``stream``, ``transport``...).
SECTION_MODELS: dict[str, type[Options]] = {
    key: field.annotation
    for key, field in ProfileConfig.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Options)
}
TOP_LEVEL_KEYS: tuple[str, ...] = ("version", "profiles", "catalogue")
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)

__all__ = [
    "LAYER_MODELS",
    "PROFILE_KEYS",
    "PROVIDER_MODELS",
    "SECTION_MODELS",
    "SUPPORTED_VERSIONS",
    "TOP_LEVEL_KEYS",
    "BackoffConfig",
    "BudgetLayerConfig",
    "CircuitBreakerLayerConfig",
    "ClassifierConfig",
    "CustomLayerConfig",
    "FallbackLayerConfig",
    "FallbackOn",
    "GeminiProviderConfig",
    "ImagenProviderConfig",
    "LayerConfig",
    "LogsConfig",
    "OpenAIProviderConfig",
    "ProfileConfig",
    "PrometheusConfig",
    "PromptPolicyLayerConfig",
    "ProviderConfig",
    "RateLimitLayerConfig",
    "RetryBudgetConfig",
    "RetryLayerConfig",
    "SafetyLayerConfig",
    "Section",
    "SimProviderConfig",
    "StateConfig",
    "StreamConfig",
    "TelemetryConfig",
    "TelemetryLayerConfig",
    "TimeoutLayerConfig",
    "TransportConfig",
    "layer_name",
]
