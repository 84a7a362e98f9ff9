"""Helpers shared by the test packages: ports, calls, providers, and fake time over real I/O."""

from .calls import make_call, provider_for
from .fake_time import drive, until
from .net import free_port

__all__ = ["drive", "free_port", "make_call", "provider_for", "until"]
