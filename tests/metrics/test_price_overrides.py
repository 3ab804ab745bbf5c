"""Price overrides from config (compact string and mapping) and the shipped default prices."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from agent.types import Usage
from metrics.price_overrides import parse_price_overrides, price_table
from metrics.pricing import DEFAULT_PRICES, ModelPrice, PriceTable


class TestCompactString:
    def test_four_amounts_set_every_bucket(self) -> None:
        prices = parse_price_overrides("gpt-4o=2_000_000/8_000_000/500_000/2_500_000")
        assert prices == {"gpt-4o": ModelPrice(2_000_000, 8_000_000, 500_000, 2_500_000)}

    def test_missing_cache_prices_default_to_input_so_nothing_is_under_billed(self) -> None:
        prices = parse_price_overrides(" my-model = 100000/400000 , other=10/20/5, ")
        assert prices["my-model"] == ModelPrice(100_000, 400_000, 100_000, 100_000)
        assert prices["other"] == ModelPrice(10, 20, 5, 10)

    def test_empty_string_overrides_nothing(self) -> None:
        assert parse_price_overrides("") == {}
        assert parse_price_overrides("  ,  ") == {}

    def test_names_are_case_insensitive(self) -> None:
        assert set(parse_price_overrides("GPT-4o=1/2")) == {"gpt-4o"}

    @pytest.mark.parametrize(
        ("spec", "fragment"),
        [
            ("gpt-4o", "model=input/output"),
            ("gpt-4o=2.5/10", "whole number"),
            ("gpt-4o=-1/10", "whole number"),
            ("gpt-4o=1", "2 to 4 amounts"),
            ("gpt-4o=1/2/3/4/5", "2 to 4 amounts"),
            ("gpt-4o=1/2,GPT-4O=3/4", "given twice"),
            ("openai/gpt-4o=1/2", "bare name"),
            ("=1/2", "non-empty"),
            ("gpt-4o=1//2", "whole number"),
        ],
    )
    def test_bad_entries_name_the_problem(self, spec: str, fragment: str) -> None:
        with pytest.raises(ValueError, match=fragment):
            parse_price_overrides(spec)


class TestMapping:
    def test_tables_strings_and_prices_are_accepted(self) -> None:
        prices = parse_price_overrides(
            {
                "a": {"input": 3, "output": 15, "cache_write": 4},
                "b": "1/2/0/1",
                "c": ModelPrice(1, 1, 1, 1),
            }
        )
        assert prices == {
            "a": ModelPrice(3, 15, 3, 4),
            "b": ModelPrice(1, 2, 0, 1),
            "c": ModelPrice(1, 1, 1, 1),
        }

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ({"input": 1}, "missing"),
            ({"input": 1, "output": 2, "extra": 3}, "unknown"),
            ({"input": 1.5, "output": 2}, "whole number"),
            ({"input": True, "output": 2}, "whole number"),
            ({"input": -1, "output": 2}, "negative"),
            (42, "string or a table"),
        ],
    )
    def test_bad_values_are_refused(self, value: object, fragment: str) -> None:
        with pytest.raises(ValueError, match=fragment):
            parse_price_overrides({"m": value})


class TestPriceTable:
    def test_overrides_replace_defaults_and_add_models_leaving_the_rest(self) -> None:
        table = price_table("gpt-4o=1_000_000/2_000_000, local-llm=0/0")
        assert table.cost_usd_micros("gpt-4o", Usage(prompt=1000, completion=1000)) == 3000
        # Dated names still match the overridden entry.
        assert table.cost_usd_micros("gpt-4o-2024-08-06", Usage(prompt=1000)) == 1000
        assert table.cost_usd_micros("local-llm", Usage(prompt=10**6)) == 0
        assert table.price_for("gpt-4o-mini") == DEFAULT_PRICES["gpt-4o-mini"]
        # The base table is not modified.
        assert PriceTable().price_for("local-llm") is None

    def test_overrides_apply_on_a_given_base(self) -> None:
        base = PriceTable({"x": ModelPrice(1, 1, 1, 1)})
        table = price_table({"y": "2/2"}, base=base)
        assert table.price_for("x") is not None and table.price_for("gpt-4o") is None


# USD per 1M tokens x 1e6, as in the seed documents' pricing tables (gpt-4.1 and gpt-4.1-mini,
# which the seeds use without a price, at OpenAI's list price).
SEED_INPUT_OUTPUT = MappingProxyType(
    {
        "claude-opus-4-7": (15_000_000, 75_000_000),
        "claude-sonnet-4-6": (3_000_000, 15_000_000),
        "claude-haiku-4-5": (800_000, 4_000_000),
        "gpt-5": (5_000_000, 20_000_000),
        "gpt-4o": (2_500_000, 10_000_000),
        "gpt-4o-mini": (150_000, 600_000),
        "gpt-4.1": (2_000_000, 8_000_000),
        "gpt-4.1-mini": (400_000, 1_600_000),
        "text-embedding-3-small": (20_000, 0),
    }
)


class TestDefaultPrices:
    @pytest.mark.parametrize("model", sorted(SEED_INPUT_OUTPUT))
    def test_every_seed_model_is_priced(self, model: str) -> None:
        price = PriceTable().price_for(model)
        assert price is not None
        assert (price.input, price.output) == SEED_INPUT_OUTPUT[model]
        assert price.cached_input <= price.input <= price.cache_write

    def test_embedding_cost_is_input_only(self) -> None:
        # 500,000 tokens at $0.02/1M = $0.01.
        cost = PriceTable().cost_usd_micros("text-embedding-3-small", Usage(prompt=500_000))
        assert cost == 10_000
