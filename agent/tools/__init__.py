"""Tools the agent consults before answering, and the concurrent fan-out that runs them."""

from agent.tools.accounts import DemoAccounts, DemoOrder, DemoUser
from agent.tools.base import (
    RiskLevel,
    Source,
    Tool,
    ToolCall,
    ToolOutput,
    ToolRegistry,
    ToolResult,
    check_arguments,
)
from agent.tools.fanout import run_tools_concurrently
from agent.tools.kb_search import KnowledgeBaseSearchTool, KnowledgeIndex
from agent.tools.orders import OrderStatusTool
from agent.tools.profile import UserProfileTool

__all__ = [
    "DemoAccounts",
    "DemoOrder",
    "DemoUser",
    "KnowledgeBaseSearchTool",
    "KnowledgeIndex",
    "OrderStatusTool",
    "RiskLevel",
    "Source",
    "Tool",
    "ToolCall",
    "ToolOutput",
    "ToolRegistry",
    "ToolResult",
    "UserProfileTool",
    "check_arguments",
    "run_tools_concurrently",
]
