"""``user_profile``: a customer's name, email, plan and orders, from the demo accounts.

Medium risk because it returns personal data: a registry runs it only when ``user_profile``
is in its allow-list. An unknown user id gives an ``ok`` output saying so, as in
`agent.tools.orders`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from agent.tools.accounts import DemoAccounts
from agent.tools.base import RiskLevel, Source, ToolOutput


class UserProfileTool:
    """Looks up a user's profile and order list. Medium risk (PII), realtime."""

    name = "user_profile"
    description = "A customer's name, email, subscription tier and order ids, by user id."
    risk: RiskLevel = "medium"
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
            "properties": {"user_id": {"type": "string", "description": "e.g. u-1001"}},
            "required": ["user_id"],
            "additionalProperties": False,
        }

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        """The user's profile, or a "not found" message (still a normal output)."""
        if self._latency_s > 0:
            await anyio.sleep(self._latency_s)
        user_id = str(args["user_id"]).strip()
        user = self._accounts.user(user_id)
        if user is None:
            return ToolOutput(content=f"User {user_id!r} was not found.")
        orders = self._accounts.orders_of(user.id)
        order_text = ", ".join(f"{o.id} ({o.status})" for o in orders) or "none"
        content = "\n".join(
            [
                f"User {user.id}: {user.name}",
                f"Email: {user.email}",
                f"Plan: {user.tier}",
                f"Country: {user.country}",
                f"Member since: {user.member_since}",
                f"Orders: {order_text}",
            ]
        )
        source = Source(doc_id=f"user:{user.id}", title=f"Profile of {user.name}", score=1.0)
        return ToolOutput(content=content, sources=[source])
