"""`RegistryPrices`: the `CostModel` of the model registry, so every declared price (and the
worst-case price of a model served unpriced) is what a call is billed at.

A provider answers with its own name for a model (the upstream name, or a dated variant of
it), and two registry models may share one: the same model on two providers at two prices.
So a call is priced through `RegistryPrices.for_call`, which matches the reported name
against the models that call may reach (the one asked for, then its fallback chain) first.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.errors import InvalidModelName, ModelNotFound
from agent.model_specs import ModelSpec
from agent.registry import ModelRegistry
from agent.types import Usage
from metrics.pricing import ModelPrice, PriceTable, cost_of


class RegistryPrices:
    """Prices ``model`` (a declared name, an alias, an upstream name, or a provider's dated
    variant of one) from the registry; names it does not know fall back to ``table``."""

    def __init__(self, registry: ModelRegistry, table: PriceTable) -> None:
        self._registry = registry
        self._table = table
        self._declared = {n for spec in registry.models() for n in (spec.name, *spec.aliases)}
        # Without a call to say which, an upstream name is priced as a model declaring it.
        self._by_upstream = {
            spec.upstream: spec.name for spec in registry.models() if spec.upstream != spec.name
        }

    def price_for(self, model: str) -> ModelPrice | None:
        """The price a call to ``model`` is billed at, or None when nothing prices it."""
        name = model if model in self._declared else self._by_upstream.get(model, model)
        try:
            return self._registry.billing_price(self._registry.resolve(name).spec.name)
        except (ModelNotFound, InvalidModelName):
            return self._table.price_for(name)

    def cost_usd_micros(self, model: str, usage: Usage) -> int | None:
        """Integer micro-USD for ``usage`` on ``model``; None when the model has no price."""
        price = self.price_for(model)
        return None if price is None else cost_of(price, usage)

    def for_call(self, requested: str) -> CallPrices:
        """The prices of one call to ``requested`` (see the module docstring)."""
        try:
            chain = (
                self._registry.resolve(requested).spec,
                *(r.spec for r in self._registry.fallback_chain(requested)),
            )
        except (ModelNotFound, InvalidModelName):
            chain = ()
        return CallPrices(self, self._registry, chain)


class CallPrices:
    """`RegistryPrices` for one call: a reported name is first matched against ``chain``
    (the model asked for, then its fallbacks); after a fallback, the asked-for model is
    passed over (`after_fallback`), since it did not answer."""

    def __init__(
        self, prices: RegistryPrices, registry: ModelRegistry, chain: Sequence[ModelSpec]
    ) -> None:
        self._prices = prices
        self._registry = registry
        self._chain = tuple(chain)

    def after_fallback(self) -> CallPrices:
        """These prices once a fallback model answered."""
        return CallPrices(self._prices, self._registry, self._chain[1:])

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of the model of the chain that reports itself as ``model``, else as
        `RegistryPrices.price_for` prices it."""
        exact = [spec for spec in self._chain if model in (spec.name, spec.upstream)]
        # A dated snapshot of one (gpt-4o-2024-08-06), never another model (gpt-4o-mini).
        dated = [spec for spec in self._chain if _is_snapshot(model, spec.upstream)]
        found = next(iter((*exact, *dated)), None)
        if found is not None:
            return self._registry.billing_price(found.name)
        return self._prices.price_for(model)

    def cost_usd_micros(self, model: str, usage: Usage) -> int | None:
        """Integer micro-USD for ``usage`` on ``model``; None when the model has no price."""
        price = self.price_for(model)
        return None if price is None else cost_of(price, usage)


def _is_snapshot(model: str, upstream: str) -> bool:
    rest = model.removeprefix(upstream + "-")
    return rest != model and rest[:1].isdigit()
