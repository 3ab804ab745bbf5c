"""`HttpTool`: a tool declared in configuration that calls an HTTP API.

The URL is a template (``https://shop.example/orders/{order_id}``): placeholders take the
arguments, URL-quoted; the other arguments go in the query string (GET, DELETE) or a JSON body.
A JSON response can be cut down to the ``select``ed dotted fields before the model reads it.
Personal and write tools act for the verified user: it is sent as ``user_param`` (a URL
placeholder or an argument), which is never offered to the model and never taken from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import msgspec

from agent.tools.base import RiskLevel, ToolOutput, ToolRisk
from cache.errors import AgentError

RISK_LEVELS: dict[ToolRisk, RiskLevel] = {"safe": "low", "personal": "medium", "write": "high"}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class HttpToolSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A tool that calls an HTTP API.

    ``url`` is a template: ``{name}`` is replaced by the argument (URL-quoted); the other
    arguments go in the query string (GET, DELETE) or the JSON body. ``headers`` values may
    hold ``${VAR}``, read from the environment at start-up. ``select`` keeps only these
    dotted fields of a JSON response. ``user_param`` names where a personal or write tool
    receives the verified user (a URL placeholder or an argument), never offered to the model.
    """

    name: str
    description: str
    url: str
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_s: float = 5.0
    select: tuple[str, ...] = ()
    risk: ToolRisk = "safe"
    user_param: str = "user_id"
    cacheable: bool = False
    cache_ttl_s: float = 60.0
    max_response_chars: int = 4000

    def __post_init__(self) -> None:
        _check(bool(_NAME.fullmatch(self.name)), "name", "1-64 letters, digits, '-' or '_'")
        _check(self.url.startswith(("http://", "https://")), "url", "an http(s):// URL template")
        _check(self.timeout_s > 0, "timeout_s", "a positive number of seconds")
        _check(self.cache_ttl_s >= 0, "cache_ttl_s", "zero or more seconds")
        _check(self.parameters.get("type", "object") == "object", "parameters", "an object schema")


def _check(ok: bool, field: str, expected: str) -> None:
    if not ok:
        raise ValueError(f"{field}: expected {expected}")


class ToolCallFailed(AgentError):
    """An HTTP tool's API could not be reached or answered with an error status."""

    code = "tool_failed"


class HttpTool:
    """Implements `Tool` and `UserTool` for one `HttpToolSpec` over a shared session."""

    def __init__(self, spec: HttpToolSpec, session: aiohttp.ClientSession) -> None:
        self._spec = spec
        self._session = session
        self.name = spec.name
        self.description = spec.description
        self.timeout_s = spec.timeout_s
        self.risk: RiskLevel = RISK_LEVELS[spec.risk]
        self.acts_for_user = spec.risk != "safe"
        self.realtime = not spec.cacheable
        self.cacheable = spec.cacheable
        self.cache_ttl_s = spec.cache_ttl_s
        self.parameters = (
            _without(spec.parameters, spec.user_param)
            if self.acts_for_user
            else (dict(spec.parameters))
        )

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        """Call the API with ``args``; raises `ToolCallFailed` on a transport or HTTP error."""
        return await self._call(args, None)

    async def run_as(self, args: Mapping[str, Any], user_id: str) -> ToolOutput:
        """Call the API for ``user_id`` (sent as ``user_param``, replacing any such argument)."""
        return await self._call(args, user_id)

    async def _call(self, args: Mapping[str, Any], user: str | None) -> ToolOutput:
        spec = self._spec
        values = {k: v for k, v in args.items() if k != spec.user_param}
        if user is not None:
            values[spec.user_param] = user
        used: set[str] = set()

        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                raise ToolCallFailed(f"the URL needs {key!r}, which the call lacks")
            used.add(key)
            return quote(_text(values[key]), safe="")

        url = _PLACEHOLDER.sub(fill, spec.url)
        rest = {k: v for k, v in values.items() if k not in used}
        query = spec.method in ("GET", "DELETE")
        try:
            async with self._session.request(
                spec.method,
                url,
                headers=spec.headers,
                params={k: _text(v) for k, v in rest.items()} if query else None,
                json=None if query else rest,
                timeout=aiohttp.ClientTimeout(total=spec.timeout_s),
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, UnicodeError) as exc:
            raise ToolCallFailed(f"{type(exc).__name__}: {exc}") from exc
        if status >= 400:
            raise ToolCallFailed(f"HTTP {status}: {body[:200].decode(errors='replace')}")
        return ToolOutput(content=self._shape(body)[: spec.max_response_chars])

    def _shape(self, body: bytes) -> str:
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return body.decode(errors="replace")
        if self._spec.select:
            data = {path: _pick(data, path) for path in self._spec.select}
        return msgspec.json.encode(data).decode()


def _without(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    out = dict(schema)
    out["properties"] = {k: v for k, v in (schema.get("properties") or {}).items() if k != name}
    if "required" in schema:
        out["required"] = [k for k in schema["required"] if k != name]
    return out


def _pick(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()
