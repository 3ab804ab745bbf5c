"""Loads `Settings` from the environment and an optional TOML file.

This is the only module that reads ``os.environ``. Precedence, lowest first: defaults, the TOML
file named by ``FRUGAL_CONFIG``, ``FRUGAL_<SECTION>_<FIELD>`` variables, then the conventional
provider variables (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``,
``ANTHROPIC_BASE_URL``, ``REDIS_URL``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from server.settings import Settings

ENV_PREFIX = "FRUGAL_"
METRICS_DIR_VAR = "PROMETHEUS_MULTIPROC_DIR"
"""Set by ``frugal serve --workers N`` (N > 1) so every worker's Prometheus metrics are shared."""
CONFIG_FILE_VAR = "FRUGAL_CONFIG"

# Conventional names other tools already use; they win over FRUGAL_* spellings.
CONVENTIONAL_VARS: dict[str, tuple[str, str]] = {
    "OPENAI_API_KEY": ("providers", "openai_api_key"),
    "OPENAI_BASE_URL": ("providers", "openai_base_url"),
    "ANTHROPIC_API_KEY": ("providers", "anthropic_api_key"),
    "ANTHROPIC_BASE_URL": ("providers", "anthropic_base_url"),
    "REDIS_URL": ("redis", "url"),
}


class ConfigError(Exception):
    """A setting has an invalid value; the message names the variable and what was expected."""


def env_var_name(section: str, field: str) -> str:
    """The ``FRUGAL_*`` variable that sets ``section.field``."""
    return f"{ENV_PREFIX}{section}_{field}".upper()


def iter_fields() -> Iterator[tuple[str, str, Any]]:
    """Every ``(section, field, default)`` of the settings tree, in declaration order."""
    defaults = Settings()
    for section_info in msgspec.structs.fields(Settings):
        section_value = getattr(defaults, section_info.name)
        for field_info in msgspec.structs.fields(type(section_value)):
            yield section_info.name, field_info.name, getattr(section_value, field_info.name)


def metrics_multiprocess_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """The shared Prometheus directory of a multi-worker server, or None in a single process."""
    env = os.environ if environ is None else environ
    return env.get(METRICS_DIR_VAR) or None


def export_metrics_dir(path: str) -> None:
    """Publish ``path`` as the shared Prometheus directory to worker processes started later
    (they inherit this process's environment)."""
    os.environ[METRICS_DIR_VAR] = path


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Build the settings; raise `ConfigError` naming the offending variable on a bad value."""
    env = dict(os.environ if environ is None else environ)
    tree: dict[str, dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}

    path = config_file if config_file is not None else env.get(CONFIG_FILE_VAR)
    if path:
        _merge_toml(Path(path), tree, origin)

    known = {env_var_name(s, f): (s, f) for s, f, _ in iter_fields()}
    list_fields = {(s, f) for s, f, default in iter_fields() if isinstance(default, tuple)}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_VAR:
            continue
        if name not in known:
            raise ConfigError(f"{name}: unknown setting (see .env.example for the list)")
        where = known[name]
        _put(tree, origin, where, _env_value(value, is_list=where in list_fields), name)
    for name, where in CONVENTIONAL_VARS.items():
        if env.get(name):
            _put(tree, origin, where, env[name], name)

    try:
        return msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from exc


def _env_value(raw: str, *, is_list: bool) -> Any:
    # List settings are comma-separated in the environment (TOML files use arrays).
    if is_list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    # An empty variable means "unset this optional value" (e.g. FRUGAL_SERVER_ADMIN_KEY=).
    return None if raw == "" else raw


def _put(
    tree: dict[str, dict[str, Any]],
    origin: dict[tuple[str, str], str],
    where: tuple[str, str],
    value: Any,
    source: str,
) -> None:
    section, field = where
    tree.setdefault(section, {})[field] = value
    origin[where] = source


def _merge_toml(
    path: Path, tree: dict[str, dict[str, Any]], origin: dict[tuple[str, str], str]
) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{CONFIG_FILE_VAR}: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CONFIG_FILE_VAR}: {path} is not valid TOML: {exc}") from exc
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{section}] must be a table of settings")
        for field, value in values.items():
            _put(tree, origin, (section, field), value, f"{path} [{section}].{field}")


_PATH_RE = re.compile(r"at `\$\.(\w+)(?:\.(\w+))?`")
_POST_INIT_RE = re.compile(r"^(\w+): (expected .*?)(?: - at `|$)")


def _explain(exc: msgspec.ValidationError, origin: Mapping[tuple[str, str], str]) -> str:
    text = str(exc)
    match = _PATH_RE.search(text)
    section = match.group(1) if match else ""
    field = match.group(2) if match and match.group(2) else ""
    detail = text.split(" - at `")[0]
    post_init = _POST_INIT_RE.match(text)
    if post_init:  # raised by a section's own check: "field: expected ..."
        field, detail = post_init.group(1), post_init.group(2)
    if section and not field and detail.startswith("Object contains unknown field"):
        return f"[{section}]: {detail}"
    if not section:
        return f"invalid configuration: {detail}"
    where = (section, field)
    name = origin.get(where, env_var_name(section, field))
    return f"{name}: {detail[0].lower()}{detail[1:]}"
