"""Requirements that read like requirements: each raises ``AssertionError`` saying what failed.

They take a :class:`~genguard.testing.run.RunReport` (and, where the log is needed, the
simulator), so the same checks serve a user's pytest suite and ``genguard check-stack``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ContentBlocked
from .run import RunReport, cost_of, prompts_sent

if TYPE_CHECKING:
    from ..sim import Simulator


def _first(items: list[str], limit: int = 3) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def no_retry_after_violations(report: RunReport) -> None:
    """No request came back before a server's retry hint allowed (counted by the simulator)."""
    if report.retry_after_violations:
        raise AssertionError(
            f"{report.retry_after_violations} request(s) were sent before the server's "
            "Retry-After / RetryInfo allowed"
        )


def every_block_typed(report: RunReport, sim: Simulator | None = None) -> None:
    """Every failure is a genguard error, every block is a ``ContentBlocked`` with its stage
    and category, and (with ``sim``) no blocked prompt was ever sent twice."""
    untyped = report.untyped_errors()
    if untyped:
        raise AssertionError(
            "untyped errors: "
            + _first([f"call {o.index}: {type(o.error).__name__}: {o.error}" for o in untyped])
        )
    blocks = [o for o in report.outcomes if isinstance(o.error, ContentBlocked)]
    vague = [
        f"call {o.index}"
        for o in blocks
        if isinstance(o.error, ContentBlocked) and not (o.error.stage and o.error.category)
    ]
    if vague:
        raise AssertionError("blocks without a stage or category: " + _first(vague))
    if sim is None:
        return
    blocked_prompts = {o.prompt for o in blocks}
    # a prompt that some call saw succeed may legitimately be sent again by another call
    succeeded = {o.prompt for o in report.outcomes if o.ok}
    calls_per_prompt = {
        p: sum(1 for o in report.outcomes if o.prompt == p) for p in blocked_prompts
    }
    sent = prompts_sent(sim, blocked_prompts - succeeded)
    retried = [
        f"{prompt!r} sent {count} times for {calls_per_prompt[prompt]} call(s)"
        for prompt, count in sent.items()
        if count > calls_per_prompt[prompt]
    ]
    if retried:
        raise AssertionError("blocked prompts were retried: " + _first(retried))


def amplification_at_most(report: RunReport, limit: float) -> None:
    """Upstream requests per call stay at or under ``limit``."""
    if report.amplification > limit:
        raise AssertionError(
            f"{report.upstream_requests} upstream requests for {report.calls} calls: "
            f"amplification {report.amplification:.3f} > {limit}"
        )


def deadline_held(report: RunReport, tolerance: float = 0.05) -> None:
    """No call outlived its deadline by more than ``tolerance`` seconds."""
    late = [
        f"call {o.index}: {o.latency:.3f}s against a {o.deadline}s deadline"
        for o in report.outcomes
        if o.deadline is not None and o.overshoot > tolerance
    ]
    if late:
        raise AssertionError("calls outlived their deadline: " + _first(late))


def success_at_least(report: RunReport, fraction: float) -> None:
    """At least ``fraction`` of the calls succeeded; the message lists how the others failed."""
    if report.success_rate < fraction:
        failures = ", ".join(f"{n} {name}" for name, n in report.errors_by_type().most_common())
        raise AssertionError(
            f"{report.successes}/{report.calls} calls succeeded "
            f"({report.success_rate:.1%} < {fraction:.1%}); failures: {failures}"
        )


def cost_at_most(report: RunReport, amount: float, *, per_call: bool = False) -> None:
    """The run (or, with ``per_call``, every call) cost at most ``amount``, counting what
    was billed and what may have been."""
    if per_call:
        dear = [f"call {o.index}: {cost_of(o):.4f}" for o in report.outcomes if cost_of(o) > amount]
        if dear:
            raise AssertionError(f"calls cost more than {amount}: " + _first(dear))
        return
    if report.cost > amount:
        raise AssertionError(f"the run cost {report.cost:.4f} > {amount}")


__all__ = [
    "amplification_at_most",
    "cost_at_most",
    "deadline_held",
    "every_block_typed",
    "no_retry_after_violations",
    "success_at_least",
]
