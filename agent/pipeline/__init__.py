"""The Answer pipeline: `Agent.answer` / `Agent.stream` and the structs they speak."""

from agent.pipeline.agent import Agent
from agent.pipeline.costing import Bill, BudgetHook, CostModel, NoBudget, Reservation
from agent.pipeline.planner import DEFAULT_PROFILE_KEYWORDS, ToolPlan, ToolPlanner
from agent.pipeline.prompt import DEFAULT_SYSTEM_PROMPT, assemble_prompt, stable_prefix
from agent.pipeline.request import AUTO_MODEL, ChatRequest, RequestLimits, validate_request
from agent.pipeline.response import (
    CacheDiagnostics,
    ChatResponse,
    Done,
    Error,
    Meta,
    RouteInfo,
    StreamEvent,
    StreamOutcome,
    Token,
    ToolTrace,
)

__all__ = [
    "AUTO_MODEL",
    "DEFAULT_PROFILE_KEYWORDS",
    "DEFAULT_SYSTEM_PROMPT",
    "Agent",
    "Bill",
    "BudgetHook",
    "CacheDiagnostics",
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
    "ToolPlan",
    "ToolPlanner",
    "ToolTrace",
    "assemble_prompt",
    "stable_prefix",
    "validate_request",
]
