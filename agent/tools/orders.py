"""``order_status``: where an order is, from the demo accounts.

An unknown order id is not a tool failure: the result is ``ok`` with content saying the order
was not found (and no sources), so the model can tell the customer and ask them to check the
number. ``ok=False`` stays reserved for the tool itself failing. With ``user_id`` the lookup is
confined to that user's orders: another user's order reads as not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from agent.tools.accounts import DemoAccounts, DemoOrder
from agent.tools.base import RiskLevel, Source, ToolOutput


class OrderStatusTool:
    """Looks up an order's status, carrier, tracking number and ETA. Low risk, realtime."""

    name = "order_status"
    description = "Current status, carrier, tracking number and ETA of an order, by order id."
    risk: RiskLevel = "low"
    realtime = True

    def __init__(
        self, accounts: DemoAccounts, *, latency_s: float = 0.0, timeout_s: float = 1.0
    ) -> None:
        """``latency_s`` adds a cancellable sleep to every call, to make concurrency visible."""
        self._accounts = accounts
        self._latency_s = latency_s
        self.timeout_s = timeout_s
        self.parameters: dict[str, Any] = {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "e.g. 1001"},
                "user_id": {"type": "string", "description": "only this user's orders"},
            },
            "required": ["order_id"],
            "additionalProperties": False,
        }

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        """The order's details, or a "not found" message (still a normal output)."""
        if self._latency_s > 0:
            await anyio.sleep(self._latency_s)
        # Customers write "#1001" or "order 1001 "; ids are the bare number.
        order_id = str(args["order_id"]).strip().removeprefix("#").strip()
        order = self._accounts.order(order_id)
        owner = args.get("user_id")
        if order is not None and owner is not None and order.user_id != str(owner).strip():
            order = None  # someone else's order reads as unknown: its existence is not told
        if order is None:
            return ToolOutput(content=f"Order {order_id!r} was not found.")
        source = Source(doc_id=f"order:{order.id}", title=f"Order {order.id}", score=1.0)
        return ToolOutput(content=describe_order(order), sources=[source])


def describe_order(order: DemoOrder) -> str:
    """One prompt-ready line per fact about ``order``."""
    lines = [
        f"Order {order.id}: {order.status}",
        f"Placed on: {order.placed_on}",
        f"Items: {', '.join(order.items)}",
        f"Total: ${order.total_usd_cents // 100}.{order.total_usd_cents % 100:02d}",
    ]
    if order.carrier is not None:
        lines.append(f"Carrier: {order.carrier}, tracking number {order.tracking}")
    if order.eta is not None:
        lines.append(f"Estimated delivery: {order.eta}")
    return "\n".join(lines)
