"""`AgentProfile`: what makes one configured agent differ from another in a turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from agent.tools.base import ToolCall, ToolResult

AUTO = "auto"


class ToolResultCache(Protocol):
    """Remembers cacheable tool results per (tool, arguments, user)."""

    async def get(self, call: ToolCall, user: str | None) -> ToolResult | None:
        """The stored result, or None on a miss (store trouble is a miss, never raised)."""
        ...

    async def put(self, call: ToolCall, user: str | None, result: ToolResult) -> None:
        """Store ``result`` when its tool allows it (store trouble is logged, not raised)."""
        ...


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """The agent's name and definition version (answers are cached under both), its planner,
    model policy (``auto``: the router; else that model unless the caller names one), and
    turn limits: tool calls per turn, a cap on every tool's timeout, and the spend after which
    no more tools are offered."""

    name: str = "support"
    version: str = ""
    variant: str = ""
    """The A/B variant this is (empty: the agent has none)."""
    planner: Literal["rules", "model"] = "rules"
    model: str = AUTO
    max_tool_calls: int = 8
    tool_timeout_s: float | None = None
    max_spend_usd_micros: int | None = None
    tool_cache: ToolResultCache | None = None

    @property
    def cache_partition(self) -> str:
        """The suffix every cache key of this agent carries (empty for the unversioned
        default), so a changed prompt, tool set or knowledge base never serves old answers."""
        return f"|agent={self.name}@{self.version}" if self.version else ""
