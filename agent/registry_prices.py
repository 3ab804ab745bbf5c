"""`RegistryPrices`: the `CostModel` of the model registry, so every declared price (and the
worst-case price of a model served unpriced) is what a call is billed at."""

from __future__ import annotations

from agent.errors import InvalidModelName, ModelNotFound
from agent.registry import ModelRegistry
from agent.types import Usage
from metrics.pricing import ModelPrice, PriceTable, cost_of


class RegistryPrices:
    """Prices ``model`` (a declared name, an alias, an upstream name, or a provider's dated
    variant of one) from the registry; names it does not know fall back to ``table``."""

    def __init__(self, registry: ModelRegistry, table: PriceTable) -> None:
        self._registry = registry
        self._table = table
        # Providers answer with their own name for a model (the upstream name).
        self._by_upstream = {
            spec.upstream: spec.name for spec in registry.models() if spec.upstream != spec.name
        }

    def price_for(self, model: str) -> ModelPrice | None:
        """The price a call to ``model`` is billed at, or None when nothing prices it."""
        name = self._by_upstream.get(model, model)
        try:
            return self._registry.billing_price(self._registry.resolve(name).spec.name)
        except (ModelNotFound, InvalidModelName):
            return self._table.price_for(name)

    def cost_usd_micros(self, model: str, usage: Usage) -> int | None:
        """Integer micro-USD for ``usage`` on ``model``; None when the model has no price."""
        price = self.price_for(model)
        return None if price is None else cost_of(price, usage)
