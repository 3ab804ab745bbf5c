"""Reading agents files: relative paths resolved, ``${VAR}`` secrets substituted.

The ``[agents]`` section of the gateway's TOML file and every agents file it includes (the
same tables at the top level, like ``examples/support/agent.toml``) go through `prepare`, so
the bundled demo loads exactly as a user's agent does. The environment is passed in: only
`server.config` reads the process environment.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from agent.agents.spec import AgentsConfig

SUPPORT_AGENT_FILE = Path(__file__).resolve().parents[2] / "examples" / "support" / "agent.toml"
"""The bundled customer-support agent, the zero-config default."""

_LISTS = ("definitions", "http_tools", "mcp_servers", "builtin_tools", "knowledge_bases")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class AgentsFileError(ValueError):
    """An agents file cannot be read, or names a secret that is not set."""


def read_agents_file(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """The tables of an agents file, prepared (see `prepare`); raises `AgentsFileError`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgentsFileError(f"cannot read agents file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise AgentsFileError(f"agents file {path} is not valid TOML: {exc}") from exc
    return prepare(data, path.parent, env)


def prepare(tree: dict[str, Any], base: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """``tree`` with its includes merged in, paths made absolute against ``base``, and
    ``${VAR}`` replaced in HTTP headers and MCP env/headers. Raises `AgentsFileError`."""
    out = dict(tree)
    for agent in _dicts(out, "definitions"):
        _absolute(agent, "prompt_file", base)
        for variant in _dicts(agent, "variants"):
            _absolute(variant, "prompt_file", base)
    for kb in _dicts(out, "knowledge_bases"):
        if isinstance(kb.get("paths"), list):
            kb["paths"] = [str(base / p) if isinstance(p, str) else p for p in kb["paths"]]
        _absolute(kb, "store", base)
        if kb.get("kind", "documents") == "documents" and "store" not in kb:
            kb["store"] = str(base / ".frugal" / "kb" / str(kb.get("name", "")))
    for tool in _dicts(out, "builtin_tools"):
        _absolute(tool, "data", base)
    for tool in _dicts(out, "http_tools"):
        _substitute(tool, "headers", env)
        if isinstance(tool.get("url"), str):
            tool["url"] = _VAR.sub(lambda m: _secret(m.group(1), env), tool["url"])
    for server in _dicts(out, "mcp_servers"):
        _substitute(server, "env", env)
        _substitute(server, "headers", env)
        _absolute(server, "cwd", base)
        if server.get("transport", "stdio") == "stdio" and "cwd" not in server:
            server["cwd"] = str(base)
    includes = out.get("include", [])
    for include in includes if isinstance(includes, list) else []:
        if isinstance(include, str):
            merge(out, read_agents_file(base / include, env))
    out["include"] = []
    return out


def merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Append ``extra``'s definitions, tools and knowledge bases to ``into``'s."""
    for key in _LISTS:
        if isinstance(extra.get(key), list):
            into[key] = [*into.get(key, []), *extra[key]]
    if "default" not in into and extra.get("default"):
        into["default"] = extra["default"]


def convert(tree: Mapping[str, Any]) -> AgentsConfig:
    """The `AgentsConfig` of a prepared tree; raises `msgspec.ValidationError`."""
    return msgspec.convert(dict(tree), AgentsConfig, strict=False)


def bundled_support() -> AgentsConfig:
    """The bundled support agent, loaded as any agents file is."""
    return convert(read_agents_file(SUPPORT_AGENT_FILE, {}))


def _dicts(tree: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    items = tree.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _absolute(table: dict[str, Any], key: str, base: Path) -> None:
    value = table.get(key)
    if isinstance(value, str):
        table[key] = str(base / value)


def _substitute(table: dict[str, Any], key: str, env: Mapping[str, str]) -> None:
    values = table.get(key)
    if isinstance(values, dict):
        table[key] = {
            k: _VAR.sub(lambda m: _secret(m.group(1), env), v) if isinstance(v, str) else v
            for k, v in values.items()
        }


def _secret(name: str, env: Mapping[str, str]) -> str:
    if name not in env:
        raise AgentsFileError(f"the environment variable {name} is not set")
    return env[name]
