"""``frugal config check [--config FILE]``: validate the settings the gateway would start with
(the TOML file, then ``FRUGAL_*`` and provider variables, then ``.env``), and print the
effective configuration as JSON with every secret masked.

Exit status 0 when valid; 2 with one line on stderr naming the setting and what it accepts.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

MASK = "****"
# Fields holding a secret outright, or entries "tenant:secret[:user]" (api_keys, read_keys,
# user_signing_keys): any name ending in key(s), secret(s), password or token.
_SECRET_FIELD_RE = re.compile(r"(^|_)(keys?|secrets?|password|token)$")
_ENTRY_FIELDS = frozenset({"api_keys", "read_keys", "user_signing_keys"})


def add_config_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``frugal config check``."""
    config = commands.add_parser("config", help="check a configuration")
    actions = config.add_subparsers(dest="config_command", required=True)
    check = actions.add_parser(
        "check",
        help="validate the config file and environment; print the effective config, secrets "
        "masked (exit 2 on an error)",
    )
    check.add_argument(
        "--config", metavar="FILE", default=None, help="a TOML file (default: FRUGAL_CONFIG)"
    )
    config.set_defaults(handler=run_config_check)


def config_error_line(exc: BaseException) -> str:
    """One line, whatever the message held (TOML parse errors span several)."""
    return "frugal: configuration error: " + " ".join(str(exc).split())


def run_config_check(args: argparse.Namespace) -> int:
    from server.config import ConfigError, load_settings, process_environment

    try:
        settings = load_settings(process_environment(), config_file=args.config)
    except ConfigError as exc:
        print(config_error_line(exc), file=sys.stderr)
        return 2
    effective = masked(msgspec.to_builtins(settings))
    print(json.dumps(effective, indent=2, sort_keys=False))
    mode = "simulated provider" if settings.uses_simulated_provider else "real providers"
    print(f"frugal: configuration OK ({mode})", file=sys.stderr)
    return 0


def masked(value: Any, field: str = "") -> Any:
    """``value`` (plain builtins) with secrets replaced by ``****``: secret fields, the key
    part of ``tenant:key[:user]`` entries, and passwords inside URLs."""
    if isinstance(value, dict):
        return {name: masked(item, name) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item, field) for item in value]
    if isinstance(value, str):
        if field in _ENTRY_FIELDS:
            tenant, _, rest = value.partition(":")
            _, _, user = rest.partition(":")
            return ":".join(part for part in (tenant, MASK, user) if part)
        if _SECRET_FIELD_RE.search(field) and field != "api_key_env":
            return MASK if value else value
        if "://" in value:
            return _url_without_password(value)
    return value


def _url_without_password(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
