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
from dotenv import dotenv_values

from agent.agents.loader import AgentsFileError, prepare
from agent.errors import ModelNotFound, RegistryError
from agent.registry import ModelRegistry
from metrics.price_overrides import parse_price_overrides
from server.config_hints import accepted_values
from server.registry_config import build_registry
from server.settings import Settings

ENV_PREFIX = "FRUGAL_"
METRICS_DIR_VAR = "PROMETHEUS_MULTIPROC_DIR"
"""Set by ``frugal serve --workers N`` (N > 1) so every worker's Prometheus metrics are shared."""
CONFIG_FILE_VAR = "FRUGAL_CONFIG"
DOTENV_FILE = ".env"
"""Read from the working directory when settings come from the process environment; the
process's own variables win over the file's."""

# Conventional names other tools already use; they win over FRUGAL_* spellings.
CONVENTIONAL_VARS: dict[str, tuple[str, str]] = {
    "OPENAI_API_KEY": ("providers", "openai_api_key"),
    "OPENAI_BASE_URL": ("providers", "openai_base_url"),
    "ANTHROPIC_API_KEY": ("providers", "anthropic_api_key"),
    "ANTHROPIC_BASE_URL": ("providers", "anthropic_base_url"),
    "REDIS_URL": ("redis", "url"),
}


# Sections of nested tables, set in the TOML file only (FRUGAL_* variables cannot hold them).
TOML_ONLY_SECTIONS = frozenset({"registry", "agents"})


class ConfigError(Exception):
    """A setting has an invalid value; the message names the variable and what was expected."""


def env_var_name(section: str, field: str) -> str:
    """The ``FRUGAL_*`` variable that sets ``section.field``."""
    return f"{ENV_PREFIX}{section}_{field}".upper()


def iter_fields() -> Iterator[tuple[str, str, Any]]:
    """Every ``(section, field, default)`` of the settings tree that an environment variable
    can set, in declaration order (the TOML-only ``[registry]`` is left out)."""
    defaults = Settings()
    for section_info in msgspec.structs.fields(Settings):
        if section_info.name in TOML_ONLY_SECTIONS:
            continue
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


def process_environment(dotenv: str | Path = DOTENV_FILE) -> dict[str, str]:
    """This process's variables over those of the ``dotenv`` file (when it exists), so a
    ``.env`` copied from ``.env.example`` works without exporting anything."""
    path = Path(dotenv)
    from_file: dict[str, str] = {}
    if path.is_file():
        try:
            values = dotenv_values(path, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
        # A bare `NAME` line has no value (None): it sets nothing.
        from_file = {name: value for name, value in values.items() if value is not None}
    return {**from_file, **os.environ}


def export_server_address(host: str, port: int) -> None:
    """Publish ``frugal serve --host/--port`` to worker processes started later (each loads
    its own settings from the environment)."""
    os.environ[env_var_name("server", "host")] = host
    os.environ[env_var_name("server", "port")] = str(port)


def export_session_secret(secret: str) -> None:
    """Give worker processes started later one sign-in cookie key (unset, each would draw its
    own and a browser's session would hold on one worker only)."""
    os.environ[env_var_name("auth", "session_secret")] = secret


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Build the settings; raise `ConfigError` naming the offending variable on a bad value.

    Without ``environ``: this process's environment over the ``.env`` file of the working
    directory (`process_environment`)."""
    env = dict(process_environment() if environ is None else environ)
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
        if any(name.startswith(env_var_name(s, "")) for s in TOML_ONLY_SECTIONS):
            section = name[len(ENV_PREFIX) :].split("_", 1)[0].lower()
            raise ConfigError(
                f"{name}: [{section}] is set in the TOML file only (named by {CONFIG_FILE_VAR})"
            )
        if name not in known:
            raise ConfigError(f"{name}: unknown setting (see .env.example for the list)")
        where = known[name]
        _put(tree, origin, where, _env_value(value, is_list=where in list_fields), name)
    for name, where in CONVENTIONAL_VARS.items():
        if env.get(name):
            _put(tree, origin, where, env[name], name)

    source = str(path) if path else "registry"
    _prepare_registry(tree.get("registry", {}), env, source)
    if "agents" in tree:
        base = Path(path).resolve().parent if path else Path.cwd()
        try:
            tree["agents"] = prepare(tree["agents"], base, env)
        except AgentsFileError as exc:
            raise ConfigError(f"{source}: agents: {exc}") from exc
    try:
        settings = msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, origin, tree, source)) from exc
    try:
        registry = build_registry(settings)
    except (RegistryError, ValueError) as exc:
        place = f"{source}: registry" if settings.registry.declared else "registry (default)"
        raise ConfigError(f"{place}: {exc}") from exc
    _check_verify_model(settings, registry)
    return settings


def _check_verify_model(settings: Settings, registry: ModelRegistry) -> None:
    # The semantic cache's judge is resolved when the app starts: a typo must not get that far.
    name = settings.cache.semantic_verify_model
    if name is None:
        return
    var = env_var_name("cache", "semantic_verify_model")
    try:
        spec = registry.resolve(name).spec
    except ModelNotFound as exc:
        raise ConfigError(f"{var}: {exc} (name a chat model of the registry)") from exc
    if spec.kind != "chat":
        raise ConfigError(f"{var}: {name!r} is an {spec.kind} model; the judge must chat")


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


_TYPE_MISMATCH_RE = re.compile(r"^(Expected `[^`]+`, got `[^`]+`|Invalid enum value .*)$")
_PATH_RE = re.compile(r"at `\$\.(\w+)(?:\.(\w+))?`")
_POST_INIT_RE = re.compile(r"^(\w+): (expected .*?)(?: - at `|$)")


def _explain(
    exc: msgspec.ValidationError,
    origin: Mapping[tuple[str, str], str],
    tree: Mapping[str, Any],
    source: str,
) -> str:
    text = str(exc)
    if "`$.registry." in text:
        return _explain_registry(text, tree, source)
    if "`$.agents" in text:
        place = text.split(" - at `$.", 1)[-1].rstrip("`") if " - at `$." in text else "agents"
        return f"{source}: {place}: {text.split(' - at `')[0]}"
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
    accepted = accepted_values(section, field)
    if accepted and not post_init and _TYPE_MISMATCH_RE.match(detail):
        # msgspec names the Python type; say what would have been accepted, and what was given.
        given = tree.get(section, {}).get(field)
        return f"{name}: expected {accepted} (got {given!r})"
    return f"{name}: {detail[0].lower()}{detail[1:]}"


def _prepare_registry(section: dict[str, Any], env: Mapping[str, str], source: str) -> None:
    # Each provider's key comes from the variable its `api_key_env` names; a price may be a
    # short table or an "input/output[/cached/write]" string, completed as overrides are.
    for index, provider in _entries(section, "providers"):
        var = provider.get("api_key_env")
        if isinstance(var, str) and "api_key" not in provider:
            if not env.get(var):
                where = _entry_name(section, "providers", index)
                raise ConfigError(
                    f"{source}: {where}.api_key_env: the environment variable {var} is not set"
                )
            provider["api_key"] = env[var]
    for index, model in _entries(section, "models"):
        for field in ("price", "worst_case_price"):
            if field in model:
                where = f"{_entry_name(section, 'models', index)}.{field}"
                model[field] = _price_value(model[field], where, source)
    if "passthrough_worst_case_price" in section:
        section["passthrough_worst_case_price"] = _price_value(
            section["passthrough_worst_case_price"], "registry.passthrough_worst_case_price", source
        )


def _entries(section: Mapping[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    entries = section.get(key)
    if isinstance(entries, list):
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                yield index, entry


def _entry_name(section: Mapping[str, Any], key: str, index: int) -> str:
    entries = section.get(key)
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"registry.{key}[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def _price_value(value: Any, where: str, source: str) -> Any:
    if not isinstance(value, dict | str):
        return value  # the converter reports the type
    try:
        price = parse_price_overrides({"model": value})["model"]
    except ValueError as exc:
        detail = str(exc).removeprefix("price override for 'model': ")
        raise ConfigError(
            f"{source}: {where}: expected {{input = ..., output = ...[, cached_input = ..., "
            f"cache_write = ...]}} in micro-USD per 1M tokens ({detail})"
        ) from exc
    return msgspec.to_builtins(price)


_REGISTRY_PATH_RE = re.compile(r" - at `\$\.registry\.(\w+)(?:\[(\d+)\])?([^`]*)`$")


def _explain_registry(text: str, tree: Mapping[str, Any], source: str) -> str:
    match = _REGISTRY_PATH_RE.search(text)
    if match is None:
        return f"{source}: registry: {text}"
    key, index, rest = match.group(1), match.group(2), match.group(3)
    where = (
        _entry_name(tree.get("registry", {}), key, int(index))
        if index is not None
        else f"registry.{key}"
    ) + rest
    detail = text[: match.start()]
    post_init = _POST_INIT_RE.match(text)
    if post_init:  # a spec's own check: "field: expected ..."
        where, detail = f"{where}.{post_init.group(1)}", post_init.group(2)
    return f"{source}: {where}: {detail[0].lower()}{detail[1:]}"
