"""PriceTable: integer micro-USD per call, cache buckets, model-name matching."""

from __future__ import annotations

import pytest

from agent.types import Usage
from metrics.pricing import ModelPrice, PriceTable, cost_of


class TestCost:
    def test_gpt_4o_mini_prompt_and_completion(self) -> None:
        # 1000 * 0.15 $/M + 500 * 0.60 $/M = 150 + 300 micro-USD.
        cost = PriceTable().cost_usd_micros("gpt-4o-mini", Usage(prompt=1000, completion=500))
        assert cost == 450

    def test_rounds_up_once_per_call(self) -> None:
        # 1 token at 0.15 $/M is 0.15 micro-USD: billed as 1, not 0.
        assert PriceTable().cost_usd_micros("gpt-4o-mini", Usage(prompt=1)) == 1
        assert PriceTable().cost_usd_micros("gpt-4o-mini", Usage()) == 0

    def test_openai_cached_input_is_half_price_for_4o(self) -> None:
        usage = Usage(prompt=2000, cached_prompt=1000, completion=0)
        # 1000 full at 2.5 + 1000 cached at 1.25 = 2500 + 1250.
        assert PriceTable().cost_usd_micros("gpt-4o", usage) == 3750

    def test_anthropic_cache_read_ten_percent_and_write_125_percent(self) -> None:
        usage = Usage(prompt=3000, cached_prompt=1000, cache_write=1000, completion=100)
        # sonnet: 1000*3 + 1000*0.3 + 1000*3.75 + 100*15 = 3000 + 300 + 3750 + 1500.
        assert PriceTable().cost_usd_micros("claude-sonnet-4-6", usage) == 8550

    def test_strong_costs_more_than_cheap_for_same_usage(self) -> None:
        usage = Usage(prompt=500, completion=200)
        table = PriceTable()
        cheap = table.cost_usd_micros("gpt-4o-mini", usage)
        strong = table.cost_usd_micros("gpt-4o", usage)
        assert cheap is not None and strong is not None and strong > 10 * cheap

    def test_inconsistent_counts_never_go_negative(self) -> None:
        price = ModelPrice(input=1_000_000, output=0, cached_input=0, cache_write=0)
        assert cost_of(price, Usage(prompt=1, cached_prompt=5)) == 0


class TestModelMatching:
    @pytest.mark.parametrize(
        ("model", "expected_input"),
        [
            ("gpt-4o-mini-2024-07-18", 150_000),
            ("gpt-4o-2024-08-06", 2_500_000),
            ("openai/gpt-4o-mini", 150_000),
            ("claude-haiku-4-5-20251001", 800_000),
            ("GPT-4.1-mini", 400_000),
        ],
    )
    def test_dated_and_prefixed_names_match(self, model: str, expected_input: int) -> None:
        price = PriceTable().price_for(model)
        assert price is not None and price.input == expected_input

    def test_unknown_model_has_no_cost(self) -> None:
        assert PriceTable().cost_usd_micros("llama-3-70b", Usage(prompt=10)) is None
        # A bare prefix without the dash is a different model, not a dated gpt-4o.
        assert PriceTable().price_for("gpt-4oo") is None

    def test_negative_prices_rejected(self) -> None:
        with pytest.raises(ValueError):
            ModelPrice(input=-1, output=0, cached_input=0, cache_write=0)
