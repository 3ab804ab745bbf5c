"""What configuration declares about providers and models: `ProviderSpec` and `ModelSpec`.

Each spec checks its own fields (names, URLs, positive limits) when it is built or decoded;
`agent.registry.ModelRegistry` checks how they fit together. A failed check raises
`ValueError("<field>: expected ...")` so the settings loader can name the key.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import msgspec

from agent.errors import InvalidModelName
from metrics.pricing import ModelPrice

ProviderKind = Literal["openai", "anthropic", "simulated"]
ModelKind = Literal["chat", "embedding", "rerank"]

MAX_MODEL_NAME_CHARS: Final = 256
_MODEL_NAME_RE: Final = re.compile(r"[A-Za-z0-9._:/@+-]+", re.ASCII)
_PROVIDER_NAME_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
_ENV_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
OPENAI_RESPONSES_HOST: Final = "https://api.openai.com/"
"""Providers under this URL are assumed to speak the Responses API (`ProviderSpec`)."""
_CAPABILITY_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)

CAPABILITIES: Final = frozenset(
    {"tools", "vision", "json_schema", "json_object", "logprobs", "n", "prefill", "embeddings"}
)
"""The capabilities Frugal knows how to use; other lower-case names are accepted and kept."""


def validate_model_name(name: str) -> str:
    """Return ``name`` when it can be a model name; raise `InvalidModelName` otherwise.

    A model name has 1 to 256 characters among ``A-Z a-z 0-9 . _ : / @ + -``: no whitespace,
    control characters (CR/LF included) or non-ASCII letters, so it is safe in logs, metric
    labels and cache keys.
    """
    if not name:
        raise InvalidModelName("model name is empty")
    if len(name) > MAX_MODEL_NAME_CHARS:
        raise InvalidModelName(
            f"model name has {len(name)} characters; at most {MAX_MODEL_NAME_CHARS} allowed"
        )
    if _MODEL_NAME_RE.fullmatch(name) is None:
        raise InvalidModelName(
            f"model name {name[:64]!r} may only hold letters, digits and . _ : / @ + -"
        )
    return name


class ProviderSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One upstream endpoint and how to reach it.

    ``api_key`` is filled from the environment variable ``api_key_env`` by the settings loader
    and never appears in ``repr``. Unset timeouts use the ``[providers]`` defaults. ``rpm`` and
    ``tpm`` cap outbound requests and tokens per minute (Frugal waits instead of collecting
    429s). ``passthrough`` lets requests name models that are not declared and sends them here.
    ``responses``: an ``openai`` provider also speaks OpenAI's Responses API, so ``/v1/responses``
    requests reach it natively; unset, only ``api.openai.com`` is assumed to (`speaks_responses`).
    """

    name: str
    kind: ProviderKind
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = None
    connect_timeout_s: float | None = None
    read_timeout_s: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    passthrough: bool = False
    responses: bool | None = None

    @property
    def speaks_responses(self) -> bool:
        """Whether ``/v1/responses`` requests go to this provider natively."""
        if self.kind != "openai":
            return False
        if self.responses is not None:
            return self.responses
        return self.base_url is None or self.base_url.startswith(OPENAI_RESPONSES_HOST)

    def __post_init__(self) -> None:
        _check(
            _PROVIDER_NAME_RE.fullmatch(self.name) is not None,
            "name",
            "1 to 64 letters, digits, '.', '_' or '-'",
        )
        _check(
            self.base_url is None or self.base_url.startswith(("http://", "https://")),
            "base_url",
            "an http:// or https:// URL",
        )
        _check(
            self.api_key_env is None or _ENV_NAME_RE.fullmatch(self.api_key_env) is not None,
            "api_key_env",
            "the name of an environment variable (letters, digits, '_')",
        )
        for field in ("connect_timeout_s", "read_timeout_s"):
            value = getattr(self, field)
            _check(value is None or value > 0, field, "a positive number of seconds (or unset)")
        for field in ("rpm", "tpm"):
            value = getattr(self, field)
            _check(value is None or value >= 1, field, "at least 1 (or unset for no limit)")

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "'***'"
        return (
            f"ProviderSpec(name={self.name!r}, kind={self.kind!r}, base_url={self.base_url!r}, "
            f"api_key_env={self.api_key_env!r}, api_key={key}, rpm={self.rpm!r}, "
            f"tpm={self.tpm!r}, passthrough={self.passthrough!r})"
        )


class ModelSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A model callers may name, and what Frugal knows about it.

    ``upstream_name`` is what the provider calls it (defaults to ``name``). ``price`` is in
    micro-USD per 1M tokens; a model without one must set ``unpriced_allowed`` and a
    ``worst_case_price`` to bill and hold budget at. ``fallback`` is the ordered chain of
    declared models that answer when this one fails.
    """

    name: str
    provider: str
    upstream_name: str | None = None
    price: ModelPrice | None = None
    unpriced_allowed: bool = False
    worst_case_price: ModelPrice | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    capabilities: frozenset[str] = frozenset()
    aliases: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    kind: ModelKind = "chat"

    def __post_init__(self) -> None:
        _check_model_name(self.name, "name")
        if self.upstream_name is not None:
            _check_model_name(self.upstream_name, "upstream_name")
        for alias in self.aliases:
            _check_model_name(alias, "aliases")
        for target in self.fallback:
            _check_model_name(target, "fallback")
        for field in ("context_window", "max_output_tokens"):
            value = getattr(self, field)
            _check(value is None or value >= 1, field, "at least 1 token (or unset)")
        _check(
            all(_CAPABILITY_RE.fullmatch(c) for c in self.capabilities),
            "capabilities",
            f"lower-case names such as {', '.join(sorted(CAPABILITIES))}",
        )

    @property
    def upstream(self) -> str:
        """The name sent to the provider."""
        return self.upstream_name or self.name


def _check_model_name(name: str, field: str) -> None:
    try:
        validate_model_name(name)
    except InvalidModelName as exc:
        raise ValueError(f"{field}: expected a valid model name ({exc})") from None


def _check(ok: bool, field: str, expected: str) -> None:
    if not ok:
        raise ValueError(f"{field}: expected {expected}")
