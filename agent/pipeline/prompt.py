"""Prompt assembly, stable parts first so provider prefix caching keeps hitting.

Order: our system prompt, the tool descriptions (both identical on every request), the
caller's own system messages, then what changes per request (tool outputs and retrieved
documents, the conversation summary), and last the conversation turns ending in the user turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.tools.base import ToolRegistry, ToolResult
from agent.types import Message

DEFAULT_SYSTEM_PROMPT = (
    "You are Acme's customer-support assistant. Answer briefly and accurately, using the "
    "reference material below when it is relevant. If it does not cover the question, say so "
    "and suggest contacting support. Never invent order details."
)


def stable_prefix(system_prompt: str, registry: ToolRegistry) -> str:
    """System prompt plus one line per tool that may run; identical across requests."""
    lines = [system_prompt.strip()]
    tools = [tool for tool in registry if registry.is_allowed(tool)]
    if tools:
        lines.append("")
        lines.append("Tools consulted for you before each answer:")
        lines.extend(f"- {tool.name}: {tool.description}" for tool in tools)
    return "\n".join(lines)


def assemble_prompt(
    prefix: str,
    *,
    conversation: Sequence[Message],
    tool_results: Sequence[ToolResult] = (),
    summary: str | None = None,
) -> tuple[str, tuple[Message, ...]]:
    """Return ``(system, messages)`` for the LLM call.

    ``conversation`` is the stored history followed by the caller's messages; its system
    messages move into the system text (after the stable prefix) so every provider gets one
    system block. Failed tool calls are listed so the model does not guess their data.
    """
    parts = [prefix]
    caller_system = [m.content.strip() for m in conversation if m.role == "system"]
    if caller_system:
        parts.append("Instructions from the caller:\n" + "\n".join(caller_system))
    reference = _reference_text(tool_results)
    if reference:
        parts.append("Reference material for this question:\n\n" + reference)
    if summary:
        parts.append("Summary of the earlier conversation:\n" + summary.strip())
    turns = tuple(m for m in conversation if m.role != "system")
    return "\n\n".join(parts), turns


def _reference_text(results: Sequence[ToolResult]) -> str:
    sections: list[str] = []
    for result in results:
        if result.ok and result.output is not None:
            sections.append(f"[{result.name}]\n{result.output.content.strip()}")
        else:
            sections.append(f"[{result.name}] unavailable ({result.error})")
    return "\n\n".join(sections)
