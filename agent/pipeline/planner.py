"""`ToolPlanner`: decides which tools to consult, by rules, without asking a model.

A model-driven tool loop costs a round trip per step; a support question needs at most a
knowledge-base search, an order lookup and the customer's profile, which simple patterns pick
reliably. The plan is a pure function of the question and the user id, so it is known before
the cache lookup and can scope the cache key (a personal answer is keyed by user).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from agent.tools.base import ToolCall, ToolRegistry

KB_TOOL = "kb_search"
ORDER_TOOL = "order_status"
PROFILE_TOOL = "user_profile"

# "order 1001", "order #1001", "order no. 1001", "#1001".
_ORDER_ID = re.compile(
    r"(?:\border\s*(?:number|no\.?|id)?\s*#?\s*|#\s?)(\d{3,12})\b", re.IGNORECASE
)

DEFAULT_PROFILE_KEYWORDS: tuple[str, ...] = (
    "my account", "my profile", "my plan", "my subscription", "my email", "my orders",
    "my tier", "account details", "which plan", "what plan",
)  # fmt: skip
"""Phrases that make a question about the asking user's own account."""


class ToolPlan(msgspec.Struct, frozen=True):
    """The calls to make; ``personal`` when an answer depends on who is asking. ``withheld``
    names the personal lookups the question asked for but nobody verified who is asking."""

    calls: tuple[ToolCall, ...]
    personal: bool
    withheld: tuple[str, ...] = ()

    @property
    def tool_names(self) -> list[str]:
        return [call.name for call in self.calls]


class ToolPlanner:
    """Plans tool calls for the last user message.

    Always searches the knowledge base; looks up every order id mentioned (up to
    ``max_orders``); fetches the profile when a ``user_id`` is given and the question contains
    one of ``profile_keywords``. Tools missing from the registry, or not allowed by its risk
    policy, are never planned. With ``verified`` (the server authenticated the caller) the
    personal lookups are confined to ``user_id``: orders are looked up only among that user's
    own, and with no verified user they are withheld instead of planned.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        profile_keywords: Sequence[str] = DEFAULT_PROFILE_KEYWORDS,
        max_orders: int = 3,
        kb_top_k: int = 3,
    ) -> None:
        self._registry = registry
        self._profile_keywords = tuple(k.lower() for k in profile_keywords if k.strip())
        self._max_orders = max_orders
        self._kb_top_k = kb_top_k

    def plan(self, question: str, user_id: str | None, *, verified: bool = False) -> ToolPlan:
        """The calls for ``question``, in a stable order (KB, orders, profile)."""
        calls: list[ToolCall] = []
        withheld: list[str] = []
        confined = verified and user_id is not None
        if self._may_run(KB_TOOL):
            calls.append(ToolCall(KB_TOOL, {"query": question, "top_k": self._kb_top_k}, "kb"))
        if self._may_run(ORDER_TOOL):
            order_ids = list(dict.fromkeys(_ORDER_ID.findall(question)))[: self._max_orders]
            if verified and user_id is None and order_ids:
                withheld.append(ORDER_TOOL)
                order_ids = []
            owner = {"user_id": user_id} if confined else {}
            calls.extend(
                ToolCall(ORDER_TOOL, {"order_id": order_id, **owner}, f"order-{order_id}")
                for order_id in order_ids
            )
        lowered = question.lower()
        if self._may_run(PROFILE_TOOL) and any(k in lowered for k in self._profile_keywords):
            if user_id:
                calls.append(ToolCall(PROFILE_TOOL, {"user_id": user_id}, "profile"))
            elif verified:
                withheld.append(PROFILE_TOOL)
        personal = any(call.name in (ORDER_TOOL, PROFILE_TOOL) for call in calls)
        return ToolPlan(tuple(calls), personal=personal and bool(user_id), withheld=tuple(withheld))

    def _may_run(self, name: str) -> bool:
        tool = self._registry.get(name)
        return tool is not None and self._registry.is_allowed(tool)
