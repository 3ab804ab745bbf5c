"""Agent definitions as configuration: what a team writes to bring its own agent.

One frozen msgspec Struct per concept, read from the ``[agents]`` section of the TOML file
(or an agents file it includes): named agents (`AgentSpec`), the tools they may use (HTTP
tools, MCP servers, the demo's built-in tools) and their knowledge bases. Relative paths are
resolved against the file that names them (`agent.agents.loader`).
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from agent.tools.http_tool import HttpToolSpec
from agent.tools.mcp_tools import McpServerSpec

Planner = Literal["model", "rules"]
"""``model``: the model receives the tool schemas and asks for calls (the default);
``rules``: the keyword planner picks the calls before the model answers (cheap, the demo)."""

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _check(ok: bool, field: str, expected: str) -> None:
    if not ok:
        raise ValueError(f"{field}: expected {expected}")


class _Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class AgentLimits(_Spec, frozen=True):
    """Per-turn limits; unset fields take the gateway's ``[agent]`` defaults."""

    max_iterations: int | None = None
    """Model calls plus tool rounds in one turn."""
    max_tool_calls: int = 8
    """Tool calls in one turn, all rounds together."""
    tool_timeout_s: float | None = None
    """Caps every tool's own timeout."""
    max_spend_usd_micros: int | None = None
    """Once the turn's model calls cost this much, no more tools are offered."""

    def __post_init__(self) -> None:
        _check(self.max_iterations is None or self.max_iterations >= 1, "max_iterations", ">= 1")
        _check(self.max_tool_calls >= 0, "max_tool_calls", "zero or more")
        _check(self.tool_timeout_s is None or self.tool_timeout_s > 0, "tool_timeout_s", "> 0")
        _check(
            self.max_spend_usd_micros is None or self.max_spend_usd_micros >= 0,
            "max_spend_usd_micros",
            "zero or more micro-USD",
        )


class AgentCachePolicy(_Spec, frozen=True):
    """Whether the agent's answers are cached (exact and semantic caches, keyed on the
    definition's version) and whether cacheable tool results are reused."""

    answers: bool = True
    tool_results: bool = True


class VariantSpec(_Spec, frozen=True):
    """One arm of an A/B test: what it changes (prompt and/or model) and its ``weight``."""

    name: str
    weight: float = 1.0
    prompt: str | None = None
    prompt_file: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        _check(bool(NAME_RE.fullmatch(self.name)), "name", "1-64 letters, digits, '-' or '_'")
        _check(self.weight >= 0, "weight", "zero or more")


class AgentSpec(_Spec, frozen=True):
    """One named agent: its prompt, model policy, knowledge bases, tools and limits.

    ``model`` is ``auto`` (the router picks the tier) or a concrete model name; a caller
    naming a model explicitly still wins. ``tools`` names HTTP tools, built-in tools, and MCP
    tools (``server.tool`` or ``server.*`` for every tool of an MCP server).
    """

    name: str
    description: str = ""
    prompt: str | None = None
    prompt_file: str | None = None
    model: str = "auto"
    planner: Planner = "model"
    knowledge_bases: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    allow_write: tuple[str, ...] = ()
    limits: AgentLimits = msgspec.field(default_factory=AgentLimits)
    cache: AgentCachePolicy = msgspec.field(default_factory=AgentCachePolicy)
    variants: tuple[VariantSpec, ...] = ()
    """A/B variants (prompt version x model); each conversation keeps the one it drew."""

    def __post_init__(self) -> None:
        _check(bool(NAME_RE.fullmatch(self.name)), "name", "1-64 letters, digits, '-' or '_'")
        names = [v.name for v in self.variants]
        _check(len(set(names)) == len(names), "variants", "unique variant names")
        _check(
            not self.variants or sum(v.weight for v in self.variants) > 0,
            "variants",
            "at least one positive weight",
        )
        _check(
            self.prompt is None or self.prompt_file is None,
            "prompt",
            "either prompt or prompt_file, not both",
        )


class BuiltinToolSpec(_Spec, frozen=True):
    """One of the demo's tools over a demo-accounts JSON file (see ``examples/support``)."""

    name: str
    kind: Literal["demo_order_status", "demo_user_profile"]
    data: str
    timeout_s: float = 1.0


class RerankSpec(_Spec, frozen=True):
    """The optional rerank step of a ``documents`` knowledge base: the best ``candidates``
    fused chunks go to registry model ``model`` (served by an OpenAI-compatible provider's
    ``/rerank``), which orders them; ``timeout_s`` bounds the call (on failure the fused
    order stands)."""

    model: str
    candidates: int = 20
    timeout_s: float = 3.0

    def __post_init__(self) -> None:
        _check(2 <= self.candidates <= 100, "candidates", "between 2 and 100")
        _check(self.timeout_s > 0, "timeout_s", "a positive number of seconds")


class KnowledgeBaseSpec(_Spec, frozen=True):
    """A knowledge base: ``faq`` (a JSON array of FAQ articles, the demo) or ``documents``
    (folders and files ingested by ``frugal kb ingest``: md, txt, html, pdf, jsonl, csv)."""

    name: str
    kind: Literal["faq", "documents"] = "documents"
    paths: tuple[str, ...] = ()
    store: str | None = None
    """Where ``documents`` chunks live (a directory; default ``.frugal/kb/<name>``)."""
    chunk_tokens: int = 300
    overlap_tokens: int = 50
    top_k: int = 4
    min_score: float = 0.25
    rerank: RerankSpec | None = None
    """Rerank the fused candidates with a model (off by default)."""

    def __post_init__(self) -> None:
        _check(bool(NAME_RE.fullmatch(self.name)), "name", "1-64 letters, digits, '-' or '_'")
        _check(self.chunk_tokens >= 16, "chunk_tokens", "at least 16")
        _check(0 <= self.overlap_tokens < self.chunk_tokens, "overlap_tokens", "< chunk_tokens")
        _check(1 <= self.top_k <= 10, "top_k", "between 1 and 10")
        _check(self.rerank is None or self.kind == "documents", "rerank", "a documents KB")


class AgentsConfig(_Spec, frozen=True):
    """The ``[agents]`` section: every agent, tool and knowledge base, and the defaults.

    With no definitions, the bundled support agent (``examples/support/agent.toml``) is
    loaded. ``default`` answers ``/chat`` without ``?agent=``; ``tenant_defaults`` maps a
    tenant (its API keys) to its own default agent. ``include`` names agents files (the same
    tables at their top level) merged into this one.
    """

    default: str | None = None
    tenant_defaults: dict[str, str] = msgspec.field(default_factory=dict)
    include: tuple[str, ...] = ()
    definitions: tuple[AgentSpec, ...] = ()
    http_tools: tuple[HttpToolSpec, ...] = ()
    mcp_servers: tuple[McpServerSpec, ...] = ()
    builtin_tools: tuple[BuiltinToolSpec, ...] = ()
    knowledge_bases: tuple[KnowledgeBaseSpec, ...] = ()

    def __post_init__(self) -> None:
        names = [d.name for d in self.definitions]
        _check(len(set(names)) == len(names), "definitions", "unique agent names")
        tools = [t.name for t in self.http_tools] + [t.name for t in self.builtin_tools]
        _check(len(set(tools)) == len(tools), "http_tools", "unique tool names")
        kbs = [k.name for k in self.knowledge_bases]
        _check(len(set(kbs)) == len(kbs), "knowledge_bases", "unique names")
        if self.definitions:
            default = self.default or names[0]
            _check(default in names, "default", f"one of the defined agents {names}")
            for tenant, agent in self.tenant_defaults.items():
                _check(agent in names, "tenant_defaults", f"{tenant} -> a defined agent")
        known_kbs = set(kbs)
        for d in self.definitions:
            missing = [k for k in d.knowledge_bases if k not in known_kbs]
            _check(not missing, "knowledge_bases", f"declared knowledge bases, not {missing}")

    @property
    def default_name(self) -> str:
        """The agent answering requests that name none."""
        return self.default or (self.definitions[0].name if self.definitions else "support")
