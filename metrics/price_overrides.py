"""Price overrides from configuration: a compact string or a mapping, turned into `ModelPrice`s.

Every number is integer micro-USD per one million tokens (``$2.50 / 1M`` is ``2500000``;
underscores are allowed: ``2_500_000``). Decimals are refused so no float ever touches money.

Compact form, one entry per model, comma-separated (what an environment variable holds)::

    gpt-4o=2_500_000/10_000_000/1_250_000/2_500_000, my-model=100000/400000

Each entry is ``model=input/output[/cached_input[/cache_write]]``. A missing ``cached_input``
or ``cache_write`` is billed at ``input``: without a stated discount we never under-bill.

Mapping form (a TOML table): ``{model: price}`` where a price is a `ModelPrice`, a compact
``"input/output[/cached_input[/cache_write]]"`` string, or a table with integer ``input``,
``output`` and optional ``cached_input`` / ``cache_write`` fields (same defaults).

Model names are bare and matched case-insensitively, as `PriceTable` does (write ``gpt-4o``, not
``openai/gpt-4o``); an override replaces the default price of that name or adds a new model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from metrics.pricing import ModelPrice, PriceTable

_AMOUNT = re.compile(r"[0-9][0-9_]*", re.ASCII)
_BAD_NAME = re.compile(r"[\s/=,]")
_PRICE_FIELDS = ("input", "output", "cached_input", "cache_write")


def parse_price_overrides(spec: str | Mapping[str, object]) -> dict[str, ModelPrice]:
    """Parse ``spec`` (compact string or mapping, see the module docstring) into prices.

    Keys of the result are lower-cased model names. An empty string or mapping gives ``{}``.
    Raises `ValueError` naming the offending entry: bad or duplicate model name, a non-integer
    or negative amount, fewer than two or more than four amounts, unknown table fields.
    """
    entries = _split_compact(spec) if isinstance(spec, str) else list(spec.items())
    prices: dict[str, ModelPrice] = {}
    for raw_name, value in entries:
        name = _model_name(raw_name)
        if name in prices:
            raise ValueError(f"price override for {name!r} is given twice")
        try:
            prices[name] = _price(value)
        except ValueError as exc:
            raise ValueError(f"price override for {name!r}: {exc}") from exc
    return prices


def price_table(spec: str | Mapping[str, object], *, base: PriceTable | None = None) -> PriceTable:
    """``base`` (the default table when None) with the overrides in ``spec`` applied.

    Raises `ValueError` as `parse_price_overrides` does.
    """
    return (base or PriceTable()).with_overrides(parse_price_overrides(spec))


def _split_compact(spec: str) -> list[tuple[object, object]]:
    entries: list[tuple[object, object]] = []
    for entry in spec.split(","):
        if not entry.strip():
            continue  # tolerate a trailing comma or an empty variable
        name, sep, amounts = entry.partition("=")
        if not sep:
            raise ValueError(
                f"price override {entry.strip()!r} must look like model=input/output[/...]"
            )
        entries.append((name, amounts))
    return entries


def _model_name(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"price override model name {raw!r} must be a non-empty string")
    name = raw.strip().lower()
    if _BAD_NAME.search(name):
        raise ValueError(
            f"price override model name {name!r} must be a bare name without spaces, '/', "
            "'=' or ','"
        )
    return name


def _price(value: object) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, str):
        return _from_amounts([_amount(part) for part in value.split("/")])
    if isinstance(value, Mapping):
        unknown = set(value) - set(_PRICE_FIELDS)
        if unknown:
            raise ValueError(f"unknown price fields {sorted(map(str, unknown))}")
        missing = [field for field in ("input", "output") if field not in value]
        if missing:
            raise ValueError(f"missing price fields {missing}")
        amounts = [_integer(value[field]) for field in _PRICE_FIELDS if field in value]
        if "cache_write" in value and "cached_input" not in value:
            amounts.insert(2, amounts[0])
        return _from_amounts(amounts)
    raise ValueError(f"a price must be a string or a table, not {type(value).__name__}")


def _from_amounts(amounts: list[int]) -> ModelPrice:
    if not 2 <= len(amounts) <= 4:
        raise ValueError(f"expected 2 to 4 amounts (input/output/cached/write), got {len(amounts)}")
    input_price, output = amounts[0], amounts[1]
    cached = amounts[2] if len(amounts) > 2 else input_price
    write = amounts[3] if len(amounts) > 3 else input_price
    return ModelPrice(input=input_price, output=output, cached_input=cached, cache_write=write)


def _amount(text: str) -> int:
    stripped = text.strip()
    if not _AMOUNT.fullmatch(stripped):
        raise ValueError(
            f"{stripped!r} is not a whole number of micro-USD per 1M tokens (e.g. 2_500_000)"
        )
    return int(stripped)


def _integer(value: object) -> int:
    # bool is an int subclass; True as a price is a config mistake, not 1 micro-USD.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number of micro-USD per 1M tokens")
    if value < 0:
        raise ValueError(f"{value} is negative")
    return value
