"""`Toolbox`: every tool and knowledge-base search the configured agents may use, by name.

Built once at start-up (`open_toolbox`): the demo's built-in tools, HTTP tools, the tools
each MCP server lists, and one search tool per knowledge base. Each agent then takes the
tools it names (`agent.agents.catalog.blueprint`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp
import msgspec

from agent.agents.spec import AgentsConfig, RerankSpec
from agent.base import Embedder
from agent.kb import (
    DocumentError,
    DocumentSearchTool,
    FileKbStore,
    KbStore,
    KnowledgeBaseService,
    TTLKbStore,
)
from agent.kb.rerank import Reranker
from agent.knowledge import KnowledgeBase
from agent.tools.accounts import DemoAccounts
from agent.tools.base import Tool, ToolRisk
from agent.tools.http_tool import HttpTool, ToolCallFailed
from agent.tools.kb_search import KnowledgeBaseSearchTool, KnowledgeIndex
from agent.tools.mcp_tools import open_mcp_server
from agent.tools.orders import OrderStatusTool
from agent.tools.profile import UserProfileTool
from cache.base import TTLStore


class Toolbox:
    """Tools by name (MCP tools as ``server.tool``) and knowledge-base searches by KB name."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._risk: dict[str, ToolRisk] = {}
        self._mcp: dict[str, list[Tool]] = {}
        self._kb_tools: dict[str, Tool] = {}
        self._kb_versions: dict[str, str] = {}
        self.knowledge: dict[str, KnowledgeBaseService] = {}
        """The ingested (``documents``) knowledge bases, by name."""

    def add(self, tool: Tool, risk: ToolRisk, *, key: str | None = None) -> None:
        """Register ``tool`` under ``key`` (default: its name)."""
        self._tools[key or tool.name] = tool
        self._risk[tool.name] = risk

    def add_mcp(self, server: str, tools: Sequence[Tool], risk: ToolRisk) -> None:
        """Register the tools an MCP server listed (each also as ``server.tool``)."""
        self._mcp[server] = list(tools)
        for tool in tools:
            self.add(tool, risk, key=f"{server}.{tool.name}")

    def add_kb(self, name: str, tool: Tool, version: str) -> None:
        """Register the search tool of knowledge base ``name`` at content ``version``."""
        self._kb_tools[name] = tool
        self._kb_versions[name] = version

    def resolve(self, name: str) -> list[Tool]:
        """The tools ``name`` stands for: one tool, or ``server.*`` for all of a server's."""
        if name.endswith(".*"):
            return list(self._mcp.get(name[:-2], ()))
        tool = self._tools.get(name)
        return [tool] if tool is not None else []

    def risk_of(self, name: str) -> ToolRisk:
        """The configured risk of the tool called ``name`` (``safe`` when unknown)."""
        return self._risk.get(name, "safe")

    def kb_search(self, names: Sequence[str]) -> Tool:
        """The search tool over knowledge bases ``names``; raises `ValueError` if unknown."""
        tools = [self._kb_tools[n] for n in names if n in self._kb_tools]
        if len(tools) != len(names):
            missing = sorted(set(names) - set(self._kb_tools))
            raise ValueError(f"knowledge bases not loaded: {missing}")
        if len(tools) != 1:
            raise ValueError("an agent searches one knowledge base")
        return tools[0]

    def kb_versions(self, names: Sequence[str]) -> dict[str, str]:
        """Content version of each named knowledge base."""
        return {name: self._kb_versions.get(name, "") for name in names}


async def open_toolbox(
    config: AgentsConfig,
    *,
    embedder: Embedder,
    session: aiohttp.ClientSession,
    stack: contextlib.AsyncExitStack,
    kb_store: TTLStore | None = None,
    reranker_for: Callable[[RerankSpec], Reranker] | None = None,
) -> Toolbox:
    """Build every tool ``config`` declares; raises `ValueError` for a file it cannot read.
    Ingested knowledge bases live in ``kb_store`` (Redis) when given, else in files; a
    knowledge base's ``rerank`` step gets its `Reranker` from ``reranker_for`` (which raises
    `ValueError` for a model that cannot rerank)."""
    box = Toolbox()
    accounts: dict[str, DemoAccounts] = {}
    for spec in config.builtin_tools:
        if spec.data not in accounts:
            accounts[spec.data] = DemoAccounts.from_json(_read(spec.data))
        data = accounts[spec.data]
        tool: Tool
        if spec.kind == "demo_order_status":
            tool = OrderStatusTool(data, timeout_s=spec.timeout_s)
            box.add(tool, "safe", key=spec.name)
        else:
            # Its risk policy is the gateway-wide ``agent.allowed_risky_tools`` (as before).
            tool = UserProfileTool(data, timeout_s=spec.timeout_s)
            box.add(tool, "safe", key=spec.name)
    for http in config.http_tools:
        box.add(HttpTool(http, session), http.risk)
    for server in config.mcp_servers:
        try:
            tools = await stack.enter_async_context(open_mcp_server(server))
        except (OSError, ToolCallFailed, ExceptionGroup) as exc:
            # The SDK's task group wraps what went wrong (e.g. the program exited at once).
            leaf: BaseException = exc
            while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
                leaf = leaf.exceptions[0]
            detail = f"{type(leaf).__name__}: {leaf}"
            raise ValueError(f"MCP server {server.name!r} cannot start: {detail}") from exc
        box.add_mcp(server.name, tools, server.risk)
    for kb in config.knowledge_bases:
        if kb.kind == "faq":
            raw = b"".join(_read(p) for p in kb.paths[:1])
            index = await KnowledgeIndex.build(KnowledgeBase.from_json(raw), embedder)
            version = hashlib.sha256(raw).hexdigest()[:12]
            box.add_kb(kb.name, KnowledgeBaseSearchTool(index, min_score=kb.min_score), version)
            continue
        store: KbStore = (
            TTLKbStore(kb_store, kb.name)
            if kb_store is not None
            else FileKbStore(Path(kb.store or Path(".frugal") / "kb" / kb.name))
        )
        reranker = None
        if kb.rerank is not None:
            if reranker_for is None:
                raise ValueError(f"knowledge base {kb.name!r}: rerank is not available here")
            reranker = reranker_for(kb.rerank)
        search = DocumentSearchTool(
            kb.name,
            embedder,
            top_k=kb.top_k,
            min_score=kb.min_score,
            reranker=reranker,
            rerank_candidates=kb.rerank.candidates if kb.rerank is not None else 0,
        )
        service = KnowledgeBaseService(
            kb.name,
            store,
            search,
            embedder=embedder,
            paths=kb.paths,
            chunk_tokens=kb.chunk_tokens,
            overlap_tokens=kb.overlap_tokens,
        )
        try:
            await service.start()
        except DocumentError as exc:
            raise ValueError(f"knowledge base {kb.name!r}: {exc}") from exc
        # Its content changes by ingest, with per-document invalidation; the definition's
        # version covers how it is built and searched.
        shape = msgspec.json.encode([kb, embedder.name])
        box.add_kb(kb.name, search, hashlib.sha256(shape).hexdigest()[:12])
        box.knowledge[kb.name] = service
    return box


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
