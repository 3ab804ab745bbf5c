"""The money seams of the pipeline: pricing (`CostModel`) and spending limits (`BudgetHook`).

`metrics.pricing.PriceTable` implements `CostModel`; the cost-control work plugs a real
budget guard in as the `BudgetHook`. `NoBudget` is the default: every request may spend.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec

from agent.types import Usage
from metrics.reservation import Reservation as Reservation
from metrics.reservation import TenantScoped


@runtime_checkable
class CostModel(Protocol):
    """Turns token usage into money."""

    def cost_usd_micros(self, model: str, usage: Usage) -> int | None:
        """Integer micro-USD for ``usage`` on ``model``; None when the model has no price."""
        ...


@runtime_checkable
class CallCostModel(CostModel, Protocol):
    """A `CostModel` scoped to one call (`PerCallCosts.for_call`)."""

    def after_fallback(self) -> CostModel:
        """The prices once a fallback model answered (the asked-for one did not)."""
        ...


@runtime_checkable
class PerCallCosts(CostModel, Protocol):
    """A `CostModel` that prices each call knowing which model it was sent to."""

    def for_call(self, requested: str) -> CallCostModel:
        """The prices of one call to ``requested`` (and its fallback chain)."""
        ...


@runtime_checkable
class BudgetHook(Protocol):
    """Reserves money before a request and settles the real amount after it."""

    async def reserve(
        self, request: TenantScoped, worst_case_usd_micros: int, *, hold_id: str = ""
    ) -> Reservation:
        """Hold ``worst_case_usd_micros`` for ``request``, once per ``hold_id`` (if given).

        Raises `agent.errors.BudgetExceeded` when the budget cannot cover it.
        """
        ...

    async def settle(self, reservation: Reservation, actual_usd_micros: int) -> None:
        """Replace the hold by what the request really cost (0 for a cache hit), once. Never
        raises for budget reasons: the money is already spent."""
        ...

    def output_tokens(self, model: str, cap: int) -> int:
        """The output tokens to hold for a call to ``model`` allowed up to ``cap`` (at most
        ``cap``; ``cap`` itself for a worst-case hold). Never raises."""
        ...

    def observe_output(self, model: str, tokens: int) -> None:
        """Take note that a finished call to ``model`` produced ``tokens``. Never raises."""
        ...


class NoBudget:
    """A `BudgetHook` that never refuses and records nothing."""

    async def reserve(
        self, request: TenantScoped, worst_case_usd_micros: int, *, hold_id: str = ""
    ) -> Reservation:
        """Always grants the reservation."""
        return Reservation(reserved_usd_micros=worst_case_usd_micros, token=hold_id)

    async def settle(self, reservation: Reservation, actual_usd_micros: int) -> None:
        """Does nothing."""

    def output_tokens(self, model: str, cap: int) -> int:
        """Always ``cap``."""
        return cap

    def observe_output(self, model: str, tokens: int) -> None:
        """Does nothing."""


class Bill(msgspec.Struct, frozen=True):
    """The cost of one call: ``usd_micros`` is 0 and ``known`` false when unpriced."""

    usd_micros: int = 0
    known: bool = True

    def __add__(self, other: Bill) -> Bill:
        return Bill(self.usd_micros + other.usd_micros, self.known and other.known)


def bill(costs: CostModel, model: str, usage: Usage) -> Bill:
    """Price ``usage`` on ``model``; unknown models give a zero, unknown bill."""
    micros = costs.cost_usd_micros(model, usage)
    return Bill(0, False) if micros is None else Bill(micros, True)


def routing_savings(costs: CostModel, strong_model: str, actual: Bill, usage: Usage) -> int:
    """What the strong model would have cost for ``usage`` minus ``actual`` (never negative)."""
    strong = costs.cost_usd_micros(strong_model, usage)
    if strong is None or not actual.known:
        return 0
    return max(strong - actual.usd_micros, 0)
