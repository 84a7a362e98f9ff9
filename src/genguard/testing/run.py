"""Run a batch of calls through a client and keep every outcome, for verdicts and assertions.

The report is the raw material of every requirement in :mod:`genguard.testing.assertions`
and of ``genguard check-stack``: per-call outcomes (result or typed error, latency on the
client's clock, the deadline that applied) plus what the simulator counted upstream.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import GenGuardError
from ..model import GenerationRequest, GenerationResult

if TYPE_CHECKING:
    from ..pipeline import Client
    from ..sim import Simulator

#: Prompts with no block word in them, varied so seeded fault profiles spread over calls.
DEFAULT_PROMPTS = (
    "a red fox in fresh snow",
    "a lighthouse at dawn, watercolour",
    "a bowl of ramen, studio photo",
    "a paper boat on a puddle",
    "an owl reading a map",
    "a city skyline made of books",
    "a bicycle leaning on a yellow wall",
    "a cactus wearing sunglasses",
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One call: its result or its error, how long it took, and the deadline it had."""

    index: int
    prompt: str
    result: GenerationResult | None
    error: BaseException | None
    latency: float
    deadline: float | None

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def overshoot(self) -> float:
        """Seconds past the deadline (negative when the call ended in time)."""
        if self.deadline is None:
            return float("-inf")
        return self.latency - self.deadline


@dataclass(frozen=True, slots=True)
class RunReport:
    """Outcomes of one run and the simulator's counts for the same run."""

    outcomes: tuple[Outcome, ...]
    upstream_requests: int
    retry_after_violations: int

    @property
    def calls(self) -> int:
        return len(self.outcomes)

    @property
    def successes(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def success_rate(self) -> float:
        return self.successes / self.calls if self.calls else 1.0

    @property
    def amplification(self) -> float:
        """Upstream requests per call (1.0 means no call was sent twice)."""
        return self.upstream_requests / self.calls if self.calls else 0.0

    @property
    def max_overshoot(self) -> float:
        """The largest ``latency - deadline`` of any call with a deadline (0 if none had one)."""
        values = [o.overshoot for o in self.outcomes if o.deadline is not None]
        return max(values) if values else 0.0

    def errors_by_type(self) -> Counter[str]:
        return Counter(type(o.error).__name__ for o in self.outcomes if o.error is not None)

    def untyped_errors(self) -> list[Outcome]:
        """Calls that failed with something other than a genguard error."""
        return [
            o
            for o in self.outcomes
            if o.error is not None and not isinstance(o.error, GenGuardError)
        ]

    @property
    def cost(self) -> float:
        """What the run cost, billed and possibly billed, where results and errors say."""
        return sum(cost_of(o) for o in self.outcomes)


def cost_of(outcome: Outcome) -> float:
    """The cost a call reports (0.0 when it reports none): ``result.cost`` or ``error.cost``,
    a number or an object with ``total`` (or ``settled`` plus ``possibly_billed``)."""
    holder: Any = outcome.result if outcome.result is not None else outcome.error
    value = getattr(holder, "cost", None)
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    total = getattr(value, "total", None)
    if isinstance(total, int | float):
        return float(total)
    settled = getattr(value, "settled", 0.0) or 0.0
    possibly = getattr(value, "possibly_billed", 0.0) or 0.0
    return float(settled) + float(possibly)


async def run_calls(
    client: Client,
    *,
    calls: int | None = None,
    prompts: Sequence[str] | None = None,
    concurrency: int = 8,
    sim: Simulator | None = None,
    request_fields: dict[str, Any] | None = None,
) -> RunReport:
    """Send ``calls`` generations (cycling through ``prompts``, each repeat made distinct)
    at ``concurrency``.

    Every call ends in the report, as a result or as the exception it raised; nothing is
    swallowed except into an :class:`Outcome`. With ``sim``, the report carries the
    upstream requests and Retry-After violations the simulator counted during the run.
    Cancellation of the run cancels every call in flight.
    """
    pool = list(prompts or DEFAULT_PROMPTS)
    if not pool:
        raise ValueError("prompts must not be empty")
    total = len(pool) if calls is None else calls
    if total < 0 or concurrency < 1:
        raise ValueError("calls must be >= 0 and concurrency >= 1")
    fields = dict(request_fields or {})
    before = sim.requests if sim is not None else 0
    violations_before = sim.retry_after_violations if sim is not None else 0
    gate = asyncio.Semaphore(concurrency)
    clock = client.clock

    async def one(index: int) -> Outcome:
        # A prompt sent again is made distinct: the simulator tells retries of one call
        # apart from other calls by the request's content.
        take, position = divmod(index, len(pool))
        prompt = pool[position] if take == 0 else f"{pool[position]} (take {take + 1})"
        request = GenerationRequest(prompt=prompt, **fields)
        deadline = request.deadline if request.deadline is not None else client.deadline
        async with gate:
            started = clock.now()
            try:
                result = await client.generate(request)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # every failure is data for the verdict
                return Outcome(index, prompt, None, error, clock.now() - started, deadline)
            return Outcome(index, prompt, result, None, clock.now() - started, deadline)

    outcomes = await asyncio.gather(*(one(i) for i in range(total)))
    return RunReport(
        outcomes=tuple(outcomes),
        upstream_requests=(sim.requests - before) if sim is not None else 0,
        retry_after_violations=(
            (sim.retry_after_violations - violations_before) if sim is not None else 0
        ),
    )


def prompts_sent(sim: Simulator, prompts: Iterable[str]) -> Counter[str]:
    """How many times the simulator received each of ``prompts``."""
    wanted = set(prompts)
    return Counter(r.prompt for r in sim.log if r.prompt in wanted)


__all__ = ["DEFAULT_PROMPTS", "Outcome", "RunReport", "cost_of", "prompts_sent", "run_calls"]
