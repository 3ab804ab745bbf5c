"""The batch column of the price table."""

from __future__ import annotations

import pytest

from cache.types import Usage
from metrics.batch_pricing import BatchPrices, batch_price
from metrics.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, cost_of


def test_the_batch_price_is_half_of_every_bucket() -> None:
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert batch_price(price) == ModelPrice(75_000, 300_000, 37_500, 75_000)


def test_odd_prices_round_up_so_a_batch_is_never_billed_below_the_provider() -> None:
    assert batch_price(ModelPrice(3, 1, 0, 5)) == ModelPrice(2, 1, 0, 3)


def test_batch_prices_bill_both_columns() -> None:
    prices = BatchPrices(PriceTable())
    usage = Usage(prompt=1_000, cached_prompt=200, completion=500)
    interactive = prices.interactive_usd_micros("gpt-4o", usage)
    assert interactive == cost_of(DEFAULT_PRICES["gpt-4o"], usage)
    assert prices.cost_usd_micros("gpt-4o", usage) == interactive // 2
    assert prices.cost_usd_micros("no-such-model", usage) is None


def test_a_share_outside_0_to_100_percent_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        batch_price(DEFAULT_PRICES["gpt-4o"], 150)
