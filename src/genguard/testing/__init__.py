"""Test your own genguard stack: run calls, judge them, check a policy file.

- :func:`run_calls` sends a batch of calls and keeps every outcome in a :class:`RunReport`;
- the assertions (:func:`no_retry_after_violations`, :func:`every_block_typed`,
  :func:`amplification_at_most`, :func:`deadline_held`, :func:`success_at_least`,
  :func:`cost_at_most`) read like requirements and say what failed;
- :func:`check_stack` (``genguard check-stack FILE``) runs a policy file's stack against
  the fault catalogue (:data:`DEFAULT_FAULTS`);
- :class:`RecordingTransport` and :func:`load_cassette` record real responses (keys
  redacted) and serve them again from the simulator.

The pytest fixtures live in :mod:`genguard.testing.plugin`, loaded automatically by pytest.
"""

from .assertions import (
    amplification_at_most,
    cost_at_most,
    deadline_held,
    every_block_typed,
    no_retry_after_violations,
    success_at_least,
)
from .cassette import Cassette, RecordingTransport, load_cassette
from .conformance import Verdict, check_stack
from .faults import DEFAULT_FAULTS, Fault
from .run import DEFAULT_PROMPTS, Outcome, RunReport, run_calls

__all__ = [
    "DEFAULT_FAULTS",
    "DEFAULT_PROMPTS",
    "Cassette",
    "Fault",
    "Outcome",
    "RecordingTransport",
    "RunReport",
    "Verdict",
    "amplification_at_most",
    "check_stack",
    "cost_at_most",
    "deadline_held",
    "every_block_typed",
    "load_cassette",
    "no_retry_after_violations",
    "run_calls",
    "success_at_least",
]
