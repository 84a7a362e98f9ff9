"""genguard: a resilience layer for AI image-generation APIs."""

import logging as _logging

from .clock import Clock, FakeClock, SystemClock
from .errors import (
    AttemptTimeout,
    AuthenticationError,
    BadRequest,
    BulkheadFull,
    CircuitOpen,
    ConfigError,
    ContentBlocked,
    DeadlineExceeded,
    GenGuardError,
    InvalidRequest,
    ModelRetired,
    NoImageGenerated,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
    RetryBudgetExhausted,
    UnknownModel,
)
from .model import Call, Change, GenerationRequest, GenerationResult, Image, Part, Turn, Usage
from .observe import Observer, RecordingObserver
from .pipeline import Client, Handler, Layer, compose
from .sync import SyncClient, agenerate, generate

# A guest in the application: silent until it configures logging (see telemetry/logging.py).
_logging.getLogger("genguard").addHandler(_logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "AttemptTimeout",
    "AuthenticationError",
    "BadRequest",
    "BulkheadFull",
    "Call",
    "Change",
    "CircuitOpen",
    "Client",
    "Clock",
    "ConfigError",
    "ContentBlocked",
    "DeadlineExceeded",
    "FakeClock",
    "GenGuardError",
    "GenerationRequest",
    "GenerationResult",
    "Handler",
    "Image",
    "InvalidRequest",
    "Layer",
    "ModelRetired",
    "NoImageGenerated",
    "Observer",
    "Part",
    "ProviderError",
    "ProviderUnavailable",
    "QuotaExhausted",
    "RateLimited",
    "RecordingObserver",
    "ResponseError",
    "RetryBudgetExhausted",
    "SyncClient",
    "SystemClock",
    "Turn",
    "UnknownModel",
    "Usage",
    "__version__",
    "agenerate",
    "compose",
    "generate",
]
