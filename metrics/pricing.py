"""`PriceTable`: integer micro-USD prices per million tokens and the cost of one call.

Minimal version for the Answer pipeline; the cost-control issue grows it (overrides, per-tenant
tables). Money is integer micro-USD throughout: a call's cost is
``ceil(sum(tokens_i * price_i) / 1_000_000)`` over the four usage buckets, rounded up once per
call, so no float ever touches money.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import msgspec

from cache.types import Usage

TOKENS_PER_PRICE_UNIT: Final = 1_000_000


class ModelPrice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Micro-USD per one million tokens of each bucket `cache.types.Usage` distinguishes.

    ``cached_input`` is the provider's cache-read rate, ``cache_write`` its cache-creation rate
    (Anthropic bills 125% of input; OpenAI has no separate write price, so it equals input).
    """

    input: int
    output: int
    cached_input: int
    cache_write: int

    def __post_init__(self) -> None:
        if min(self.input, self.output, self.cached_input, self.cache_write) < 0:
            raise ValueError("prices must be zero or more micro-USD per 1M tokens")


def openai_price(input_per_m: int, output_per_m: int, *, cached_percent: int) -> ModelPrice:
    """An OpenAI price: cached input at ``cached_percent`` of input, no cache-write surcharge."""
    return ModelPrice(input_per_m, output_per_m, input_per_m * cached_percent // 100, input_per_m)


def anthropic_price(input_per_m: int, output_per_m: int) -> ModelPrice:
    """An Anthropic price: cache reads at 10% of input, cache writes at 125%."""
    return ModelPrice(input_per_m, output_per_m, input_per_m // 10, input_per_m * 125 // 100)


# Seed prices (USD per 1M tokens x 1e6). gpt-4o and gpt-4o-mini cache reads are 50% off; the
# gpt-4.1 family 75% off; gpt-5 uses the seed's 5/20 list price with OpenAI's 90%-off reads.
# Embeddings bill input only (3-small $0.02/1M, 3-large $0.13/1M, ada-002 $0.10/1M) and have
# no prompt cache, hence 100%.
DEFAULT_PRICES: Final[Mapping[str, ModelPrice]] = MappingProxyType(
    {
        "gpt-4o-mini": openai_price(150_000, 600_000, cached_percent=50),
        "gpt-4o": openai_price(2_500_000, 10_000_000, cached_percent=50),
        "gpt-4.1-mini": openai_price(400_000, 1_600_000, cached_percent=25),
        "gpt-4.1": openai_price(2_000_000, 8_000_000, cached_percent=25),
        "gpt-5": openai_price(5_000_000, 20_000_000, cached_percent=10),
        "claude-haiku-4-5": anthropic_price(800_000, 4_000_000),
        "claude-sonnet-4-6": anthropic_price(3_000_000, 15_000_000),
        "claude-opus-4-7": anthropic_price(15_000_000, 75_000_000),
        "text-embedding-3-small": openai_price(20_000, 0, cached_percent=100),
        "text-embedding-3-large": openai_price(130_000, 0, cached_percent=100),
        "text-embedding-ada-002": openai_price(100_000, 0, cached_percent=100),
    }
)


class PriceTable:
    """Looks up a model's price and turns a `Usage` into integer micro-USD.

    A model matches its exact name or, failing that, the longest known name it starts with
    followed by ``-`` (``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``; ``gpt-4o-mini`` never
    falls back to ``gpt-4o``). Provider prefixes such as ``openai/`` are ignored.
    """

    def __init__(self, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}
        # Longest first, so the most specific dated-suffix match wins.
        self._names = sorted(self._prices, key=len, reverse=True)

    def with_overrides(self, overrides: Mapping[str, ModelPrice]) -> PriceTable:
        """A new table: this one's prices with ``overrides`` added or replacing them by name
        (case-insensitive). This table is left unchanged."""
        merged = dict(self._prices)
        merged.update({name.lower(): price for name, price in overrides.items()})
        return PriceTable(merged)

    def models(self) -> list[str]:
        """Every model name with a price, in the order they were given."""
        return list(self._prices)

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or None when it is unknown."""
        name = model.lower().rsplit("/", 1)[-1]
        exact = self._prices.get(name)
        if exact is not None:
            return exact
        for known in self._names:
            if name.startswith(known + "-"):
                return self._prices[known]
        return None

    def cost_usd_micros(self, model: str, usage: Usage) -> int | None:
        """What ``usage`` on ``model`` costs, rounded up to whole micro-USD; None if unknown."""
        price = self.price_for(model)
        if price is None:
            return None
        return cost_of(price, usage)


def cost_of(price: ModelPrice, usage: Usage) -> int:
    """``ceil`` of the four buckets times their prices over one million, in integers only.

    ``usage.prompt`` includes the cached and cache-write tokens; only the remainder is billed
    at the full input price (never negative, even for inconsistent provider counts).
    """
    cached = max(usage.cached_prompt, 0)
    written = max(usage.cache_write, 0)
    plain = max(usage.prompt - cached - written, 0)
    numerator = (
        plain * price.input
        + cached * price.cached_input
        + written * price.cache_write
        + max(usage.completion, 0) * price.output
    )
    return -(-numerator // TOKENS_PER_PRICE_UNIT)
