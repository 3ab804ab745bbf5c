"""The tool seam: the `Tool` protocol, its call/result structs, and the `ToolRegistry`.

A tool is something the agent may consult before answering (knowledge-base search, order
status, a user's profile). Tools never raise through the fan-out: every outcome, including
"not allowed" and "bad arguments", becomes a `ToolResult` the pipeline can put in a prompt.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, Final, Literal, Protocol, runtime_checkable

import msgspec

from agent.types import Usage

RiskLevel = Literal["low", "medium", "high"]

ToolRisk = Literal["safe", "personal", "write"]
"""A configured tool's risk: ``safe`` runs when offered; ``personal`` runs for a verified user
only (who is sent to the tool; never a user id from the model's arguments); ``write`` also
needs the agent's ``allow_write`` list. They map onto `RiskLevel` low, medium and high."""

# JSON-schema "type" → the Python types a decoded JSON value of that type can have.
_JSON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (Mapping,),
    "array": (list, tuple),
    "null": (type(None),),
}


class Source(msgspec.Struct, frozen=True):
    """A document or record an answer drew on; ``score`` is its retrieval score (1.0: lookup)."""

    doc_id: str
    title: str
    score: float


class ModelCall(msgspec.Struct, frozen=True):
    """A paid model call a tool made itself (a knowledge base's rerank): the turn records it
    among its calls and adds its cost (``cost_known`` False: the model has no price)."""

    purpose: str
    model: str
    usage: Usage
    cost_usd_micros: int
    cost_known: bool = True


class ToolOutput(msgspec.Struct, frozen=True):
    """What a tool produced: prompt-ready text plus the sources behind it, and the model
    calls it paid for on the way (``calls``)."""

    content: str
    sources: list[Source] = msgspec.field(default_factory=list)
    calls: list[ModelCall] = msgspec.field(default_factory=list)


class ToolCall(msgspec.Struct, frozen=True):
    """A request to run tool ``name`` with ``args``; ``call_id`` ties the result back to it.
    ``user_id`` is the verified user the call acts for (never taken from the model's
    arguments): tools acting for a user (`UserTool`) receive it and refuse without one."""

    name: str
    args: dict[str, Any]
    call_id: str
    user_id: str | None = None


class ToolResult(msgspec.Struct, frozen=True):
    """The outcome of one `ToolCall`.

    ``ok`` with an ``output``, or not ok with a short ``error``: ``"timeout after 2 s"``,
    ``"not_allowed"``, ``"unknown_tool"``, ``"invalid_arguments: ..."`` or
    ``"<ExceptionType>: message"``. ``realtime`` copies the tool's flag so the caller can pick
    a short cache TTL from the results alone.
    """

    call_id: str
    name: str
    ok: bool
    output: ToolOutput | None
    error: str | None
    elapsed_ms: float
    realtime: bool = False
    started: float = 0.0
    """When the call started (``time.perf_counter()`` seconds)."""
    cached: bool = False
    """Served from the tool-result cache instead of running the tool."""


class Tool(Protocol):
    """Something the agent can call; implementations are plain classes (no inheritance).

    Attributes: ``name`` (unique in a registry), ``description`` (one line for the model),
    ``parameters`` (JSON schema of the arguments object), ``timeout_s`` (the fan-out's deadline),
    ``risk`` (medium and high need an explicit allow-list entry), ``realtime`` (its data changes
    quickly, so answers using it get a short or no cache TTL).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    timeout_s: float
    risk: RiskLevel
    realtime: bool

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        """Return the tool's output for already-validated ``args``.

        A miss (unknown order, no matching document) is a normal output saying so. Any
        exception is a tool failure; the fan-out turns it into a not-ok `ToolResult`.
        """
        ...


@runtime_checkable
class UserTool(Protocol):
    """A tool that acts for the verified user (personal data, or a write on their behalf).

    The fan-out calls `run_as` instead of ``run``, and refuses the call without a verified
    user. ``cacheable``/``cache_ttl_s`` say whether its results may be reused per user.
    """

    name: str
    acts_for_user: bool

    async def run_as(self, args: Mapping[str, Any], user_id: str) -> ToolOutput:
        """Like `Tool.run`, for ``user_id`` (the tool sends it where its definition says)."""
        ...


class ToolRegistry:
    """The tools an agent may use, and the policy deciding whether a call may run.

    Low-risk tools run automatically; medium and high risk ones only when their name is in
    ``allowed_risky``. Names in ``allowed_risky`` that match no tool are ignored, so one
    allow-list can serve deployments with different tool sets.
    """

    def __init__(self, tools: Iterable[Tool], *, allowed_risky: Collection[str] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"duplicate tool name {tool.name!r}")
            self._tools[tool.name] = tool
        self._allowed_risky = frozenset(allowed_risky)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def is_allowed(self, tool: Tool) -> bool:
        """Whether ``tool`` may run without asking anyone: low risk, or allow-listed."""
        return tool.risk == "low" or tool.name in self._allowed_risky

    def admit(self, call: ToolCall) -> Tool | str:
        """The tool to run for ``call``, or the short error code saying why it may not run.

        Checks, in order: the tool exists (``"unknown_tool"``), its risk is allowed
        (``"not_allowed"``), the arguments fit its schema (``"invalid_arguments: ..."``).
        """
        tool = self._tools.get(call.name)
        if tool is None:
            return "unknown_tool"
        if not self.is_allowed(tool):
            return "not_allowed"
        problem = check_arguments(tool.parameters, call.args)
        if problem is not None:
            return f"invalid_arguments: {problem}"
        return tool

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI-style function declarations for the tools that may run, in registry order."""
        return [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in self._tools.values()
            if self.is_allowed(tool)
        ]


def check_arguments(schema: Mapping[str, Any], args: object) -> str | None:
    """A short description of why ``args`` do not fit ``schema``, or None when they do.

    Deliberately minimal (no jsonschema dependency): the arguments must be an object, the
    ``required`` keys present, known properties of their declared basic ``type`` (and within
    ``minimum``/``maximum`` for numbers), and no extra keys when ``additionalProperties`` is
    false.
    """
    if not isinstance(args, Mapping):
        return "arguments must be an object"
    for key in schema.get("required", ()):
        if key not in args:
            return f"missing {key!r}"
    properties: Mapping[str, Any] = schema.get("properties", {})
    for key, value in args.items():
        spec = properties.get(key)
        if spec is None:
            if schema.get("additionalProperties", True) is False:
                return f"unexpected {key!r}"
            continue
        problem = _check_value(spec, value)
        if problem is not None:
            return f"{key!r} {problem}"
    return None


def _check_value(spec: Mapping[str, Any], value: object) -> str | None:
    declared = spec.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else list(declared)
        if not any(_is_json_type(name, value) for name in names):
            return f"must be {' or '.join(names)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in spec and value < spec["minimum"]:
            return f"must be >= {spec['minimum']}"
        if "maximum" in spec and value > spec["maximum"]:
            return f"must be <= {spec['maximum']}"
    return None


def _is_json_type(name: str, value: object) -> bool:
    # bool is an int subclass in Python but not a JSON number.
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES.get(name, ()))
