"""Declarative policy stacks: one config file, many deployments, clear errors.

``load_config`` reads a YAML or TOML file; ``resolve_profile`` applies
``extends``, ``${VAR}`` and validation, giving a ``ProfileConfig``;
``client_from_config`` builds the client through the one factory;
``Pipeline.builder()`` produces the same ``ProfileConfig`` in Python.
``check`` and ``show`` back the CLI. Reference: docs/configuration.md.
"""

from . import plugins
from .api import check, has_errors, profile_to_dict, show
from .builder import Pipeline, PipelineBuilder
from .checks import CHECK_CODES, ConfigWarning, StackOrderWarning, check_order
from .factory import (
    ENV_CONFIG,
    ENV_PROFILE,
    ConfiguredClient,
    build_client,
    client_from_config,
)
from .loader import ConfigFile, load_config, parse_config, resolve_profile
from .schema import LayerConfig, ProfileConfig
from .secrets import Secret
from .values import RateSpec, parse_duration, parse_rate, parse_size

__all__ = [
    "CHECK_CODES",
    "ENV_CONFIG",
    "ENV_PROFILE",
    "ConfigFile",
    "ConfigWarning",
    "ConfiguredClient",
    "LayerConfig",
    "Pipeline",
    "PipelineBuilder",
    "ProfileConfig",
    "RateSpec",
    "Secret",
    "StackOrderWarning",
    "build_client",
    "check",
    "check_order",
    "client_from_config",
    "has_errors",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "plugins",
    "profile_to_dict",
    "resolve_profile",
    "show",
]
