"""The embedded simulator: a local Gemini + OpenAI image API with fault injection.

``async with Simulator("flaky") as sim:`` serves real HTTP on 127.0.0.1; point a
provider's ``base_url`` at ``sim.base_url``. See docs/simulator.md.
"""

from .hints import format_http_date
from .log import RequestRecord
from .png import encode_png
from .profiles import DEFAULT_FLAG_WORDS, PROFILES, make_profile
from .replies import Reply
from .server import INVALID_KEY, Simulator, serve
from .streaming import StreamPlan

__all__ = [
    "DEFAULT_FLAG_WORDS",
    "INVALID_KEY",
    "PROFILES",
    "Reply",
    "RequestRecord",
    "Simulator",
    "StreamPlan",
    "encode_png",
    "format_http_date",
    "make_profile",
    "serve",
]
