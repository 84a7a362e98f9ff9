"""Budgets and prices from a policy file: the factory builds them, errors name the field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from genguard.config import client_from_config, load_config
from genguard.config.loader import resolve_profile
from genguard.errors import BudgetExceeded, ConfigError
from genguard.layers.budget import BudgetLayer
from genguard.state.budget import MemoryBudgetStore
from genguard.state.redis_budget import RedisBudgetStore
from redis_server import RedisServer

POLICY = """
version: 1
profiles:
  default:
    provider: {{type: sim, api: gemini, profile: clean}}
    deadline: 30s
    layers:
      - retry: {{attempts: 2, resubmit_uncertain: 0}}
      - budget: {{limits: {{minute: "0.10"}}, tenant: team}}
    prices:
      gemini-2.5-flash-image: {{tokens: {{image_output: "{price}"}}, as_of: "2026-12-01"}}
  shared:
    extends: default
    state: {{backend: redis, url: "{url}"}}
"""


def write(tmp_path: Path, price: str = "60", url: str = "redis://127.0.0.1:1/0") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(price=price, url=url))
    return path


async def test_prices_from_the_policy_file_price_every_call(tmp_path: Path) -> None:
    async with client_from_config(write(tmp_path, price="60")) as client:
        budget = next(layer for layer in client.layers if isinstance(layer, BudgetLayer))
        assert isinstance(budget.store, MemoryBudgetStore)
        result = await client.generate("a cat", metadata={"team": "blue"})
        sim = client.simulator
        assert sim is not None
        # the simulator bills at the shipped $30; the policy file says this account pays $60
        assert result.cost is not None
        assert result.cost.settled - sim.ledger.total == 1290 * Decimal(30) / 1_000_000
        with pytest.raises(BudgetExceeded) as caught:
            await client.generate("a dog", metadata={"team": "blue"})
        assert caught.value.tenant == "blue"
        await client.generate("a dog", metadata={"team": "red"})  # another team, own budget


@pytest.mark.redis
async def test_redis_state_gives_a_shared_budget(tmp_path: Path) -> None:
    with RedisServer() as server:
        path = write(tmp_path, url=server.url)
        first = client_from_config(path, "shared")
        second = client_from_config(path, "shared")
        async with first, second:
            store = next(lay for lay in first.layers if isinstance(lay, BudgetLayer)).store
            assert isinstance(store, RedisBudgetStore)
            await first.generate("a cat", metadata={"team": "blue"})
            with pytest.raises(BudgetExceeded):  # the other client sees the same spend
                await second.generate("a cat", metadata={"team": "blue"})


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('image_output: "{price}"', 'image_output: "-3"', "prices"),
        ('image_output: "{price}"', 'pixels: "3"', "prices"),
        ('minute: "0.10"', 'week: "0.10"', "budget"),
        ('minute: "0.10"', 'minute: "lots"', "budget"),
        ("resubmit_uncertain: 0", "resubmit_uncertain: -1", "resubmit_uncertain"),
    ],
)
def test_bad_values_are_config_errors_with_a_path(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(POLICY.replace(old, new).format(price="60", url="redis://x"))
    with pytest.raises(ConfigError) as caught:
        resolve_profile(load_config(path), "default")
    assert where in str(caught.value)


@pytest.mark.parametrize(
    ("layers", "code"),
    [
        ('[budget: {limits: {day: "1"}}, retry]', "budget_outside_retry"),
        (
            '[retry, rate_limit: {requests: 10/s}, budget: {limits: {day: "1"}}]',
            "budget_after_rate_limit",
        ),
    ],
)
def test_misplaced_budget_is_warned(tmp_path: Path, layers: str, code: str) -> None:
    from genguard.config import check

    path = tmp_path / "order.yaml"
    path.write_text(
        "version: 1\nprofiles:\n  p:\n    provider: {type: sim}\n    deadline: 10s\n"
        f"    layers: {layers}\n"
    )
    assert [w.code for w in check(path, env={}) if hasattr(w, "code")] == [code]
