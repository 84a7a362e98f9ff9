"""docs/cost.md carries the price table generated from prices.json: it cannot drift."""

from __future__ import annotations

from pathlib import Path

from genguard.catalogue.prices import default_prices, render_table

DOC = Path(__file__).parents[2] / "docs" / "cost.md"


def test_price_table_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- prices:begin")
    begin = text.index("\n", start) + 1
    end = text.index("<!-- prices:end -->")
    assert text[begin:end] == render_table(), "regenerate the table with render_table()"
    for name, price in default_prices().models.items():
        assert f"`{name}`" in text and price.source in text
