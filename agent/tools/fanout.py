"""Run a batch of tool calls at once, each under its own deadline, never failing as a batch.

All calls start together in one anyio task group. Each runs inside its own
``move_on_after(tool.timeout_s)`` scope and catches its own exceptions, so a slow or broken
tool costs only its own slot: the others neither wait past their deadlines nor get cancelled.
Cancellation from the caller is not caught here and reaches every running tool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import anyio

from agent.errors import AgentError
from agent.tools.base import Tool, ToolCall, ToolRegistry, ToolResult, UserTool
from agent.tracing import span
from cache.errors import CacheError

_log = logging.getLogger(__name__)

NEEDS_USER = (
    "refused: this tool acts for a verified user (an API key bound to a user, or signed "
    "x-frugal-user headers), and none is known"
)
# Error text goes into prompts and logs; a tool's exception message can be arbitrarily long.
_MAX_ERROR_CHARS = 200


async def run_tools_concurrently(
    registry: ToolRegistry, calls: Sequence[ToolCall], *, timeout_cap_s: float | None = None
) -> list[ToolResult]:
    """Run ``calls`` concurrently and return one `ToolResult` per call, in input order.

    Never raises for a tool's sake: unknown, disallowed or badly-argued calls, timeouts and
    exceptions all become ``ok=False`` results (each logged once). Only cancellation of the
    caller propagates, after cancelling every tool still running. ``timeout_cap_s`` caps
    every tool's own timeout (an agent's limit).
    """
    results: list[ToolResult | None] = [None] * len(calls)

    async def run_at(index: int) -> None:
        results[index] = await _run_one(registry, calls[index], timeout_cap_s)

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(run_at, index)
    # Every slot is filled: _run_one returns a result for anything short of cancellation.
    return [result for result in results if result is not None]


async def _run_one(registry: ToolRegistry, call: ToolCall, cap: float | None) -> ToolResult:
    with span(f"tool {call.name}", {"gen_ai.tool.name": call.name}) as traced:
        result = await _run_tool(registry, call, cap)
        traced.set_attribute("frugal.tool.ok", result.ok)
        if result.error is not None:
            traced.set_attribute("error.type", "tool_error")
        return result


async def _run_tool(registry: ToolRegistry, call: ToolCall, cap: float | None) -> ToolResult:
    started = time.perf_counter()
    admitted = registry.admit(call)
    if isinstance(admitted, str):
        return _failed(call, admitted, started)
    tool = admitted
    acts_for_user = isinstance(tool, UserTool) and tool.acts_for_user
    if acts_for_user and call.user_id is None:
        return _failed(call, NEEDS_USER, started, tool)
    timeout_s = tool.timeout_s if cap is None else min(tool.timeout_s, cap)
    try:
        with anyio.move_on_after(timeout_s) as deadline:
            if isinstance(tool, UserTool) and acts_for_user and call.user_id is not None:
                output = await tool.run_as(call.args, call.user_id)
            else:
                output = await tool.run(call.args)
    except Exception as exc:  # a tool's bug or upstream failure must not cancel its siblings
        if deadline.cancel_called:
            # The tool turned our timeout's cancellation into its own error; report the timeout.
            return _failed(call, _timeout_text(timeout_s), started, tool)
        message = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
        return _failed(call, message, started, tool, exc=exc)
    if deadline.cancelled_caught:
        return _failed(call, _timeout_text(timeout_s), started, tool)
    return ToolResult(
        call_id=call.call_id,
        name=call.name,
        ok=True,
        output=output,
        error=None,
        elapsed_ms=_elapsed_ms(started),
        realtime=tool.realtime,
        started=started,
    )


def _failed(
    call: ToolCall,
    error: str,
    started: float,
    tool: Tool | None = None,
    *,
    exc: BaseException | None = None,
) -> ToolResult:
    elapsed_ms = _elapsed_ms(started)
    # The one log line per failure; a traceback only for unexpected exceptions (tool bugs),
    # not for the dependency failures the agent's error tree already describes.
    if isinstance(exc, AgentError | CacheError):
        exc = None
    _log.warning(
        "tool %s (call %s) failed after %.0f ms: %s",
        call.name,
        call.call_id,
        elapsed_ms,
        error,
        exc_info=exc,
    )
    return ToolResult(
        call_id=call.call_id,
        name=call.name,
        ok=False,
        output=None,
        error=error,
        elapsed_ms=elapsed_ms,
        realtime=tool.realtime if tool is not None else False,
        started=started,
    )


def _timeout_text(timeout_s: float) -> str:
    return f"timeout after {timeout_s:g} s"


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
