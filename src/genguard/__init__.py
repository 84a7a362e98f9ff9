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
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
    RetryBudgetExhausted,
)
from .model import Call, GenerationRequest, GenerationResult, Image, Part, Turn, Usage
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
    "Usage",
    "__version__",
    "agenerate",
    "compose",
    "generate",
]
