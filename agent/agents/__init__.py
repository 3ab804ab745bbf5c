"""Bring your own agent: agent definitions from configuration, their tools and catalog."""

from agent.agents.catalog import AgentCatalog, Blueprint, blueprint
from agent.agents.errors import UnknownAgent
from agent.agents.loader import SUPPORT_AGENT_FILE, bundled_support, read_agents_file
from agent.agents.spec import (
    AgentLimits,
    AgentsConfig,
    AgentSpec,
    BuiltinToolSpec,
    KnowledgeBaseSpec,
)
from agent.agents.toolbox import Toolbox, open_toolbox
from agent.tools.http_tool import HttpToolSpec
from agent.tools.mcp_tools import McpServerSpec

__all__ = [
    "SUPPORT_AGENT_FILE",
    "AgentCatalog",
    "AgentLimits",
    "AgentSpec",
    "AgentsConfig",
    "Blueprint",
    "BuiltinToolSpec",
    "HttpToolSpec",
    "KnowledgeBaseSpec",
    "McpServerSpec",
    "Toolbox",
    "UnknownAgent",
    "blueprint",
    "bundled_support",
    "open_toolbox",
    "read_agents_file",
]
