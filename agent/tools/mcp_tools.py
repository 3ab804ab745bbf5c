"""MCP servers as tool sources, through the official ``mcp`` SDK (stdio and streamable HTTP).

`open_mcp_server` starts (stdio) or connects to (HTTP) one server, initialises the session,
lists its tools, and yields one `McpTool` per tool with the server's own JSON schema. The
session stays open for the process (entered on the app's exit stack); calls from concurrent
turns share it. A tool reporting ``isError``, or a protocol failure, becomes `ToolCallFailed`
and so an error result for the model, like any other tool failure.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import anyio
import httpx2
import msgspec
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent

from agent.tools.base import RiskLevel, ToolOutput, ToolRisk
from agent.tools.http_tool import RISK_LEVELS, ToolCallFailed

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _check(ok: bool, field: str, expected: str) -> None:
    if not ok:
        raise ValueError(f"{field}: expected {expected}")


class McpServerSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An MCP server whose tools the agents may use (``transport`` ``stdio``: ``command`` and
    ``args`` start it in ``cwd``; ``http``: streamable HTTP at ``url``). Its tools are listed
    at start-up and named ``<server>.<tool>`` (or ``<server>.*``) in agent definitions."""

    name: str
    transport: Literal["stdio", "http"] = "stdio"
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_s: float = 10.0
    risk: ToolRisk = "safe"
    user_param: str = "user_id"
    startup_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        _check(bool(_NAME.fullmatch(self.name)), "name", "1-64 letters, digits, '-' or '_'")
        if self.transport == "stdio":
            _check(self.command is not None, "command", "the program to start (stdio)")
        else:
            _check(self.url is not None, "url", "the server's URL (http)")
        _check(self.timeout_s > 0, "timeout_s", "a positive number of seconds")


class McpTool:
    """Implements `Tool` and `UserTool` for one tool of an open MCP session."""

    def __init__(
        self,
        session: ClientSession,
        *,
        name: str,
        description: str,
        parameters: dict[str, Any],
        timeout_s: float,
        risk: ToolRisk,
        user_param: str,
    ) -> None:
        self._session = session
        self._user_param = user_param
        self.name = name
        self.description = description
        self.timeout_s = timeout_s
        self.risk: RiskLevel = RISK_LEVELS[risk]
        self.acts_for_user = risk != "safe"
        self.realtime = True
        props = {k: v for k, v in (parameters.get("properties") or {}).items()}
        if self.acts_for_user:
            props.pop(user_param, None)
        self.parameters = {**parameters, "properties": props}
        if "required" in parameters:
            self.parameters["required"] = [
                k for k in parameters["required"] if k in props or not self.acts_for_user
            ]

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        """Call the tool; raises `ToolCallFailed` when it reports an error or the call fails."""
        return await self._call(dict(args))

    async def run_as(self, args: Mapping[str, Any], user_id: str) -> ToolOutput:
        """Call the tool for ``user_id`` (sent as ``user_param``, replacing any such argument)."""
        return await self._call({**args, self._user_param: user_id})

    async def _call(self, args: dict[str, Any]) -> ToolOutput:
        try:
            result = await self._session.call_tool(
                self.name, args, read_timeout_seconds=self.timeout_s
            )
        except MCPError as exc:
            raise ToolCallFailed(f"MCP: {exc}") from exc
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
        if not text and result.structured_content is not None:
            text = msgspec.json.encode(result.structured_content).decode()
        if result.is_error:
            raise ToolCallFailed(f"MCP tool error: {text[:200]}")
        return ToolOutput(content=text)


@asynccontextmanager
async def open_mcp_server(spec: McpServerSpec) -> AsyncIterator[list[McpTool]]:
    """Connect to ``spec``'s server and yield its tools; the session closes on exit.

    Raises `ToolCallFailed` when the server cannot be started or listed within
    ``startup_timeout_s``.
    """
    transport: AbstractAsyncContextManager[Any]
    if spec.transport == "stdio":
        assert spec.command is not None  # checked by the spec
        params = StdioServerParameters(
            command=spec.command, args=list(spec.args), env=spec.env or None, cwd=spec.cwd
        )
        transport = stdio_client(params)
    else:
        assert spec.url is not None
        client = httpx2.AsyncClient(headers=spec.headers, timeout=spec.timeout_s)
        transport = _http_transport(spec.url, client)
    async with transport as (read, write), ClientSession(read, write) as session:
        try:
            with anyio.fail_after(spec.startup_timeout_s):
                await session.initialize()
                listed = await session.list_tools()
        except (MCPError, TimeoutError) as exc:
            raise ToolCallFailed(f"MCP server {spec.name!r} did not start: {exc}") from exc
        yield [
            McpTool(
                session,
                name=tool.name,
                description=tool.description or tool.name,
                parameters=dict(tool.input_schema),
                timeout_s=spec.timeout_s,
                risk=spec.risk,
                user_param=spec.user_param,
            )
            for tool in listed.tools
        ]


@asynccontextmanager
async def _http_transport(url: str, client: httpx2.AsyncClient) -> AsyncIterator[Any]:
    async with client, streamable_http_client(url, http_client=client) as streams:
        yield streams
