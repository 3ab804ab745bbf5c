"""Deterministic tool calls: which offered tools a question triggers, and their arguments.

A tool is picked when a part of its name (split on ``_``) or a word of its description, four
letters or longer, appears in the question; arguments are filled from the parameter schema.
Both providers' wires use this rule, so tests can predict every call.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from simulator.json_schema_instance import schema_type

ChoiceMode = Literal["auto", "required", "none", "named"]

_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MIN_WORD = 4
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class ToolOffer:
    """One tool the caller offered: name, description and its parameters' JSON schema."""

    name: str
    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolChoice:
    """How the caller lets the model use tools (``named`` forces ``name``)."""

    mode: ChoiceMode = "auto"
    name: str | None = None
    parallel: bool = True


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the simulator will make: id, tool name and the JSON arguments text."""

    id: str
    name: str
    arguments: str


def pick_tools(question: str, tools: Sequence[ToolOffer], choice: ToolChoice) -> list[ToolOffer]:
    """The tools ``question`` triggers (may be empty: then the model answers with text)."""
    if not tools or choice.mode == "none":
        return []
    words = set(_WORD.findall(question.lower()))
    picked = [tool for tool in tools if _keywords(tool) & words]
    if not picked:
        if choice.mode == "named":
            picked = [tool for tool in tools if tool.name == choice.name][:1]
        elif choice.mode == "required":
            picked = [tools[0]]
    elif choice.mode == "named":
        named = [tool for tool in picked if tool.name == choice.name]
        picked = named or [tool for tool in tools if tool.name == choice.name][:1]
    return picked if choice.parallel else picked[:1]


def plan_calls(
    question: str, tools: Sequence[ToolOffer], choice: ToolChoice, *, seed: bytes, prefix: str
) -> list[PlannedCall]:
    """The calls for ``question``, with ids ``<prefix><12 hex>`` derived from ``seed``."""
    return [
        PlannedCall(
            id=prefix + hashlib.sha256(seed + str(index).encode()).hexdigest()[:12],
            name=tool.name,
            arguments=_encoder.encode(tool_arguments(tool.schema, question)).decode(),
        )
        for index, tool in enumerate(pick_tools(question, tools, choice))
    ]


def tool_arguments(schema: dict[str, Any], question: str) -> dict[str, Any]:
    """An argument object for every declared property, filled from ``question``."""
    properties = schema.get("properties") or {}
    names = list(properties) + [n for n in schema.get("required", []) if n not in properties]
    return {name: _argument(properties.get(name) or {}, question) for name in names}


def _argument(schema: dict[str, Any], question: str) -> Any:
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    match schema_type(schema) if schema else "string":
        case "integer" | "number" as kind:
            found = _NUMBER.search(question)
            if found is None:
                return 1
            number = float(found.group())
            return int(number) if kind == "integer" else number
        case "boolean":
            return True
        case "array":
            return []
        case "object":
            return {}
        case _:
            words = re.findall(r"\w+", question)
            return max(words, key=len) if words else ""


def _keywords(tool: ToolOffer) -> set[str]:
    words = tool.name.lower().split("_") + _WORD.findall(tool.description.lower())
    return {word for word in words if len(word) >= _MIN_WORD}
