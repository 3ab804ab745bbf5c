"""OpenAI Chat Completions request body → Anthropic Messages request body.

Fields that cannot change the answer (``store``, OpenAI's ``metadata``, ``service_tier``,
``stream_options``, ``seed``, ``prompt_cache_key``) and unknown fields are dropped. Fields that
would change it and have no Anthropic form are refused, unless they carry their neutral value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.anthropic_translate.errors import UntranslatableField
from agent.anthropic_translate.messages import convert_messages

# Thinking budgets per reasoning_effort; Anthropic's minimum budget is 1024.
_THINKING_BUDGET = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}

# Refused fields, each with the test for its neutral (dropped) value.
_NEUTRAL: dict[str, Callable[[Any], bool]] = {
    "n": lambda v: v is None or v == 1,
    "logprobs": lambda v: v is None or v is False,
    "top_logprobs": lambda v: v is None or v == 0,
    "logit_bias": lambda v: not v,
    "presence_penalty": lambda v: v is None or v == 0,
    "frequency_penalty": lambda v: v is None or v == 0,
    "audio": lambda v: v is None,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": lambda v: v is None,
    "web_search_options": lambda v: v is None,
    "functions": lambda v: not v,
    "function_call": lambda v: v is None,
    "verbosity": lambda v: v is None or v == "medium",
}


def openai_to_anthropic_request(
    body: dict[str, Any], *, model: str, default_max_tokens: int, stream: bool
) -> dict[str, Any]:
    """The Anthropic Messages request for an OpenAI chat completions ``body``.

    ``model`` replaces the body's model; ``default_max_tokens`` applies when the body sets
    neither ``max_completion_tokens`` nor ``max_tokens`` (Anthropic requires one). No
    ``cache_control`` is added: caching is the caller's decision. Raises
    ``UntranslatableField`` naming the first field Anthropic cannot express.
    """
    for name, is_neutral in _NEUTRAL.items():
        if not is_neutral(body.get(name)):
            raise UntranslatableField(f"{name} is not supported by Anthropic", param=name)
    response_format = body.get("response_format")
    if response_format is not None and response_format.get("type") != "text":
        raise UntranslatableField(
            "structured output is not supported by Anthropic", param="response_format"
        )

    system, messages = convert_messages(body.get("messages") or [])
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
    if system:
        out["system"] = system

    thinking = _thinking(body.get("reasoning_effort"))
    if thinking is not None:
        out["thinking"] = thinking
        if max_tokens <= thinking["budget_tokens"]:
            out["max_tokens"] = thinking["budget_tokens"] + default_max_tokens
    out.update(_sampling(body, thinking=thinking is not None))
    out.update(_tools(body, thinking=thinking is not None))

    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    user = body.get("user") or body.get("safety_identifier")
    if user:
        out["metadata"] = {"user_id": user}
    out["stream"] = stream
    return out


def _thinking(effort: Any) -> dict[str, Any] | None:
    if effort is None or effort == "none":
        return None
    if effort not in _THINKING_BUDGET:
        raise UntranslatableField(
            f"reasoning_effort {effort!r} is not supported", param="reasoning_effort"
        )
    return {"type": "enabled", "budget_tokens": _THINKING_BUDGET[effort]}


def _sampling(body: dict[str, Any], *, thinking: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    temperature = body.get("temperature")
    if temperature is not None:
        if not 0 <= temperature <= 1:
            raise UntranslatableField(
                "Anthropic's temperature ranges from 0 to 1", param="temperature"
            )
        if thinking and temperature != 1:
            raise UntranslatableField(
                "Anthropic allows no temperature but 1 with reasoning", param="temperature"
            )
        out["temperature"] = temperature
    top_p = body.get("top_p")
    if top_p is not None:
        if thinking and not 0.95 <= top_p <= 1:
            raise UntranslatableField(
                "Anthropic allows top_p from 0.95 to 1 with reasoning", param="top_p"
            )
        out["top_p"] = top_p
    return out


def _tools(body: dict[str, Any], *, thinking: bool) -> dict[str, Any]:
    tools = body.get("tools")
    if not tools:
        return {}
    out: dict[str, Any] = {"tools": [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]}
    choice = _tool_choice(body.get("tool_choice"))
    if thinking and choice["type"] in ("any", "tool"):
        raise UntranslatableField(
            "Anthropic cannot force tool use with reasoning", param="tool_choice"
        )
    if body.get("parallel_tool_calls") is False and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    if body.get("tool_choice") is not None or len(choice) > 1:
        out["tool_choice"] = choice
    return out


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise UntranslatableField(f"tool type {tool.get('type')!r}", param=f"{where}.type")
    function = tool["function"]
    out: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        out["description"] = function["description"]
    out["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    match choice:
        case None | "auto":
            return {"type": "auto"}
        case "required":
            return {"type": "any"}
        case "none":
            return {"type": "none"}
        case {"type": "function", "function": {"name": str(name)}}:
            return {"type": "tool", "name": name}
    raise UntranslatableField(f"tool_choice {choice!r} is not supported", param="tool_choice")
