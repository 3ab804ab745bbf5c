"""`AgentCatalog`: the configured agents by name, and which one answers a request.

`blueprint` turns one `AgentSpec` into what an `Agent` is built from: its prompt text, its
own `ToolRegistry` (knowledge-base search plus the tools it names, under its risk policy) and
its `AgentProfile`, whose version is a digest of everything that shapes its answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from agent.agents.errors import UnknownAgent
from agent.agents.experiments import draw
from agent.agents.spec import AgentSpec
from agent.agents.toolbox import Toolbox
from agent.pipeline import DEFAULT_SYSTEM_PROMPT, Agent, AgentProfile
from agent.tools.base import Tool, ToolRegistry
from agent.tools.result_cache import StoreToolResultCache
from cache.base import TTLStore


@dataclass(frozen=True, slots=True)
class Blueprint:
    """What one agent is built from (see the module docstring)."""

    spec: AgentSpec
    prompt: str
    tools: ToolRegistry
    profile: AgentProfile
    max_iterations: int


def blueprint(
    spec: AgentSpec,
    toolbox: Toolbox,
    *,
    allowed_risky: Collection[str],
    max_iterations: int,
    store: TTLStore | None = None,
    variant: str = "",
) -> Blueprint:
    """The blueprint of ``spec`` (as its ``variant``: see `variant_specs`); raises
    `ValueError` naming a tool or prompt file it lacks."""
    prompt = spec.prompt or DEFAULT_SYSTEM_PROMPT
    if spec.prompt_file is not None:
        try:
            prompt = Path(spec.prompt_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"agent {spec.name!r}: cannot read {spec.prompt_file}") from exc
    tools: list[Tool] = []
    if spec.knowledge_bases:
        tools.append(toolbox.kb_search(spec.knowledge_bases))
    for name in spec.tools:
        found = toolbox.resolve(name)
        if not found:
            raise ValueError(f"agent {spec.name!r}: no tool or MCP tool named {name!r}")
        tools.extend(found)
    # Personal tools run when the agent lists them (for a verified user only); write tools
    # only when allow-listed too; the demo's built-ins follow the gateway-wide allow-list.
    personal = [t.name for t in tools if toolbox.risk_of(t.name) == "personal"]
    allowed = [*personal, *spec.allow_write, *allowed_risky]
    registry = ToolRegistry(tools, allowed_risky=allowed)
    iterations = spec.limits.max_iterations or max_iterations
    profile = AgentProfile(
        name=spec.name,
        variant=variant,
        version=_version(spec, prompt, registry, toolbox.kb_versions(spec.knowledge_bases)),
        planner=spec.planner,
        model=spec.model,
        max_tool_calls=spec.limits.max_tool_calls,
        tool_timeout_s=spec.limits.tool_timeout_s,
        max_spend_usd_micros=spec.limits.max_spend_usd_micros,
        tool_cache=(
            StoreToolResultCache(store, registry, namespace=spec.name)
            if store is not None and spec.cache.tool_results
            else None
        ),
    )
    return Blueprint(spec, prompt, registry, profile, iterations)


def _version(spec: AgentSpec, prompt: str, tools: ToolRegistry, kbs: Mapping[str, str]) -> str:
    shape = {
        "prompt": prompt,
        "planner": spec.planner,
        "model": spec.model,
        "tools": [[t.name, t.description, t.parameters, t.risk] for t in tools],
        "allowed": [t.name for t in tools if tools.is_allowed(t)],
        "kbs": sorted(kbs.items()),
    }
    return hashlib.sha256(msgspec.json.encode(shape)).hexdigest()[:12]


def variant_specs(spec: AgentSpec) -> list[tuple[str, float, AgentSpec]]:
    """``spec`` once per A/B variant (its prompt and model applied), or once as itself."""
    if not spec.variants:
        return [("", 1.0, spec)]
    out = []
    for v in spec.variants:
        changed = msgspec.structs.replace(
            spec,
            prompt=v.prompt if v.prompt is not None or v.prompt_file is not None else spec.prompt,
            prompt_file=(
                v.prompt_file
                if v.prompt is not None or v.prompt_file is not None
                else spec.prompt_file
            ),
            model=v.model or spec.model,
            variants=(),
        )
        out.append((v.name, v.weight, changed))
    return out


class AgentCatalog:
    """The agents by name; ``default`` answers requests naming none, unless the caller's
    tenant has its own default in ``tenant_defaults``."""

    def __init__(
        self,
        agents: Mapping[str, Sequence[tuple[str, float, Agent]]],
        *,
        default: str,
        tenant_defaults: Mapping[str, str],
    ) -> None:
        """``agents`` maps each name to its variants: (variant, weight, agent); an agent
        without variants is one ``("", 1.0, agent)``."""
        if default not in agents:
            raise ValueError(f"the default agent {default!r} is not defined")
        self._agents = {name: list(group) for name, group in agents.items()}
        self.default = default
        self._tenant_defaults = dict(tenant_defaults)

    @property
    def names(self) -> list[str]:
        """Every agent's name, in definition order."""
        return list(self._agents)

    @property
    def arms(self) -> list[tuple[str, str]]:
        """Every (agent, variant) of the agents that run A/B tests."""
        return [(n, v) for n, group in self._agents.items() for v, _, _ in group if v]

    def __iter__(self) -> Iterator[Agent]:
        return (agent for group in self._agents.values() for _, _, agent in group)

    def select(self, name: str | None, tenant: str, session_id: str | None = None) -> Agent:
        """The agent a request asked for (``name``), else its tenant's default, else the
        default; for an A/B test, the variant the session drew. Raises `UnknownAgent` for a
        name that is not defined."""
        chosen = name or self._tenant_defaults.get(tenant) or self.default
        group = self._agents.get(chosen)
        if group is None:
            raise UnknownAgent(f"no agent named {chosen!r} (defined: {', '.join(self.names)})")
        if len(group) == 1:
            return group[0][2]
        variant = draw(chosen, session_id, [(v, w) for v, w, _ in group])
        return next(agent for v, _, agent in group if v == variant)
