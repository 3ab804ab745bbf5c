"""The Answer pipeline: `Agent.answer` / `Agent.stream` and the structs they speak."""

from agent.pipeline.agent import Agent
from agent.pipeline.costing import Bill, BudgetHook, CostModel, NoBudget, Reservation
from agent.pipeline.planner import DEFAULT_PROFILE_KEYWORDS, ToolPlan, ToolPlanner
from agent.pipeline.profile import AgentProfile
from agent.pipeline.prompt import DEFAULT_SYSTEM_PROMPT, assemble_prompt, stable_prefix
from agent.pipeline.request import AUTO_MODEL, ChatRequest, RequestLimits, validate_request
from agent.pipeline.response import (
    CacheDiagnostics,
    CallCost,
    ChatResponse,
    Done,
    Error,
    Meta,
    RouteInfo,
    StreamEvent,
    StreamOutcome,
    Token,
    ToolCallEvent,
    ToolResultEvent,
    ToolTrace,
)

__all__ = [
    "AUTO_MODEL",
    "DEFAULT_PROFILE_KEYWORDS",
    "DEFAULT_SYSTEM_PROMPT",
    "Agent",
    "AgentProfile",
    "Bill",
    "BudgetHook",
    "CacheDiagnostics",
    "CallCost",
    "ChatRequest",
    "ChatResponse",
    "CostModel",
    "Done",
    "Error",
    "Meta",
    "NoBudget",
    "RequestLimits",
    "Reservation",
    "RouteInfo",
    "StreamEvent",
    "StreamOutcome",
    "Token",
    "ToolCallEvent",
    "ToolPlan",
    "ToolPlanner",
    "ToolResultEvent",
    "ToolTrace",
    "assemble_prompt",
    "stable_prefix",
    "validate_request",
]
