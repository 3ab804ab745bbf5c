"""The money seams, defined by the completion core (`agent.core.costing`); re-exported here
for the Answer pipeline and its callers."""

from agent.core.costing import (
    Bill,
    BudgetHook,
    CostModel,
    NoBudget,
    Reservation,
    bill,
    routing_savings,
)

__all__ = ["Bill", "BudgetHook", "CostModel", "NoBudget", "Reservation", "bill", "routing_savings"]
