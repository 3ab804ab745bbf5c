"""What a budget hold looks like to the pipeline, and what a budget needs to know of a request.

`Reservation` is defined here, below the pipeline, so `BudgetGuard` can return it;
`agent.pipeline.costing` re-exports it. `TenantScoped` is the one thing a budget reads from a
request: the pipeline's `ChatRequest` satisfies it structurally.
"""

from __future__ import annotations

from typing import Protocol

import msgspec


class Reservation(msgspec.Struct, frozen=True):
    """A hold on budget made before a request runs; ``token`` is the hook's own handle."""

    reserved_usd_micros: int
    token: str = ""


class TenantScoped(Protocol):
    """A request as a budget sees it: only the tenant it is billed to."""

    @property
    def tenant(self) -> str:
        """The tenant whose windows (besides the global ones) the request spends from."""
        ...
