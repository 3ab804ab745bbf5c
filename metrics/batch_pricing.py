"""The batch column of the price table: what a line sent through a provider's own batch API
costs (OpenAI and Anthropic both charge half the interactive price for every token bucket).

Money stays integer micro-USD: each per-million price is scaled by the batch share and
rounded up, so a batch line is never billed below what the provider charges.
"""

from __future__ import annotations

from typing import Final, Protocol

from cache.types import Usage
from metrics.pricing import ModelPrice, cost_of

BATCH_PERCENT: Final = 50
"""The share of the interactive price a provider batch is billed at (OpenAI, Anthropic)."""


class PriceLookup(Protocol):
    """Anything that prices a model (`metrics.pricing.PriceTable`, the registry's prices)."""

    def price_for(self, model: str) -> ModelPrice | None:
        """The interactive price of ``model``, or None when it has none."""
        ...


def batch_price(price: ModelPrice, percent: int = BATCH_PERCENT) -> ModelPrice:
    """``price`` with every bucket at ``percent`` % (rounded up to whole micro-USD)."""
    if not 0 <= percent <= 100:
        raise ValueError("a batch price is 0..100 % of the interactive one")

    def scaled(amount: int) -> int:
        return -(-amount * percent // 100)

    return ModelPrice(
        scaled(price.input),
        scaled(price.output),
        scaled(price.cached_input),
        scaled(price.cache_write),
    )


class BatchPrices:
    """Prices a call both ways: at the batch column and at the interactive price."""

    def __init__(self, prices: PriceLookup, *, percent: int = BATCH_PERCENT) -> None:
        self._prices = prices
        self._percent = percent

    def cost_usd_micros(self, model: str, usage: Usage) -> int | None:
        """``usage`` on ``model`` at the batch price; None when the model has no price."""
        price = self._prices.price_for(model)
        return None if price is None else cost_of(batch_price(price, self._percent), usage)

    def interactive_usd_micros(self, model: str, usage: Usage) -> int | None:
        """``usage`` on ``model`` at the interactive price; None when it has no price."""
        price = self._prices.price_for(model)
        return None if price is None else cost_of(price, usage)
