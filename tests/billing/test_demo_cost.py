"""The demo's summary reports the run's cost and its possibly-billed duplicates, and both
agree with the simulator's own bill."""

from __future__ import annotations

import re
from decimal import Decimal

from genguard.demo import demo_summary


async def test_summary_counts_cost_and_possibly_billed_duplicates() -> None:
    summary = await demo_summary(
        profile="flaky", calls=30, seed=5, profile_options={"resets": 0.6, "max_hint": 0.05}
    )
    cost = summary.data["cost"]
    settled = Decimal(cost["settled"])
    possible = Decimal(cost["possibly_billed"])
    bill = Decimal(cost["simulator_bill"])
    assert possible > 0 and cost["possibly_billed_duplicates"] > 0
    # the default stack resubmits at most once after a possibly-billed attempt
    assert cost["possibly_billed_duplicates"] <= summary.data["calls"]
    assert abs(settled + possible - bill) < Decimal("0.005")
    assert settled <= bill
    text = "\n".join(summary.lines)
    duplicates = cost["possibly_billed_duplicates"]
    assert re.search(rf"possibly-billed duplicates\s+{duplicates}\n", text)
    assert "simulator's bill" in text
