"""Durations, rates and sizes in config files: the one grammar lives in ``genguard.options``."""

from ..options import (
    Duration,
    Int,
    Number,
    Rate,
    RateSpec,
    Size,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)

__all__ = [
    "Duration",
    "Int",
    "Number",
    "Rate",
    "RateSpec",
    "Size",
    "format_duration",
    "format_rate",
    "format_size",
    "parse_duration",
    "parse_rate",
    "parse_size",
]
