"""Builds the `ModelRegistry` from settings: the TOML's ``[registry]``, else a default one.

The default registry reproduces what Frugal did before the registry existed: providers from
``[providers]`` (claude-* to Anthropic, the rest to OpenAI; ``mode`` sends everything to one;
the simulator when nothing is configured), every priced model on the provider that would
serve it, the tier models, and ``models.fallback`` as every chat model's fallback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from agent.model_specs import ModelKind, ModelSpec, ProviderSpec
from agent.registry import ModelRegistry
from metrics.price_overrides import parse_price_overrides
from metrics.pricing import DEFAULT_PRICES, ModelPrice, PriceTable
from server.settings import Settings

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"

LOCAL_PROVIDER = "local"
"""The in-process provider of the default registry: it serves the local embedder's model."""
LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_MODELS: Final = frozenset(
    {"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"}
)
FREE: Final = ModelPrice(input=0, output=0, cached_input=0, cache_write=0)

_CHAT_CAPABILITIES: Final = {
    "openai": frozenset({"tools", "vision", "json_object", "json_schema", "logprobs", "n"}),
    "anthropic": frozenset({"tools", "vision", "prefill"}),
}


def build_registry(settings: Settings) -> ModelRegistry:
    """The registry the settings declare, or the default one derived from them.

    Raises `agent.errors.RegistryError` (one line) when the declaration is inconsistent.
    """
    r = settings.registry
    if r.declared:
        return ModelRegistry(
            r.providers,
            r.models,
            auto_aliases=r.auto_aliases,
            passthrough_worst_case_price=r.passthrough_worst_case_price,
        )
    return default_registry(settings)


def default_registry(settings: Settings) -> ModelRegistry:
    """The registry equivalent to the ``[providers]``/``[models]``/``[cost]`` settings."""
    providers = default_providers(settings)
    prices = _price_table(settings)
    ceiling = _ceiling(prices.values())
    worst_case = settings.registry.passthrough_worst_case_price
    fallback = settings.models.fallback
    local = ModelSpec(
        name=LOCAL_EMBEDDING_MODEL,
        provider=LOCAL_PROVIDER,
        price=FREE,
        capabilities=frozenset({"embeddings"}),
        kind="embedding",
    )
    specs: dict[str, ModelSpec] = {local.name: local}
    table = PriceTable(prices)
    m = settings.models
    for name in [*prices, m.cheap, m.strong, m.fallback]:
        provider = _serving_provider(settings, name)
        if name in specs or provider is None:
            continue
        price = table.price_for(name)
        kind: ModelKind = "embedding" if name in EMBEDDING_MODELS else "chat"
        specs[name] = ModelSpec(
            name=name,
            provider=provider,
            price=price,
            # A tier model nobody priced is served as before, held and billed at the ceiling.
            unpriced_allowed=price is None,
            worst_case_price=(worst_case or ceiling) if price is None else None,
            capabilities=_capabilities(name, kind),
            kind=kind,
        )
    if fallback in specs and specs[fallback].kind == "chat":
        for name, spec in specs.items():
            if spec.kind == "chat" and name != fallback:
                specs[name] = msgspec.structs.replace(spec, fallback=(fallback,))
    return ModelRegistry(
        providers,
        specs.values(),
        auto_aliases=settings.registry.auto_aliases,
        passthrough_worst_case_price=worst_case,
    )


def default_providers(settings: Settings) -> list[ProviderSpec]:
    """The providers ``[providers]`` and ``[limits]`` describe, plus the local one."""
    local = ProviderSpec(name=LOCAL_PROVIDER, kind="simulated")
    if settings.uses_simulated_provider:
        # The simulated provider serves the declared (priced) models, like a real one would:
        # an unknown name is a 404 in zero-config mode too.
        return [ProviderSpec(name="simulated", kind="simulated"), local]
    p, lim = settings.providers, settings.limits
    specs = [local]
    if _has_anthropic(settings):
        specs.append(
            ProviderSpec(
                name="anthropic",
                kind="anthropic",
                base_url=p.anthropic_base_url or ANTHROPIC_DEFAULT_BASE_URL,
                api_key=p.anthropic_api_key,
                read_timeout_s=p.read_timeout_s,
                rpm=lim.anthropic_rpm,
                tpm=lim.anthropic_tpm,
            )
        )
    if _has_openai(settings):
        specs.append(
            ProviderSpec(
                name="openai",
                kind="openai",
                base_url=p.openai_base_url or OPENAI_DEFAULT_BASE_URL,
                api_key=p.openai_api_key,
                read_timeout_s=p.read_timeout_s,
                rpm=lim.openai_rpm,
                tpm=lim.openai_tpm,
                # A local vLLM/Ollama serves names no price table knows.
                passthrough=p.openai_base_url is not None,
                responses=p.openai_responses,
            )
        )
    return specs


def _serving_provider(settings: Settings, model: str) -> str | None:
    # The dispatch order `build_provider` always had.
    if settings.uses_simulated_provider:
        return "simulated"
    if _has_anthropic(settings) and (
        settings.providers.mode == "anthropic" or model.lower().startswith("claude")
    ):
        return "anthropic"
    return "openai" if _has_openai(settings) else None


def _has_anthropic(settings: Settings) -> bool:
    p = settings.providers
    return p.mode in ("auto", "anthropic") and bool(p.anthropic_api_key or p.anthropic_base_url)


def _has_openai(settings: Settings) -> bool:
    p = settings.providers
    return p.mode in ("auto", "openai") and bool(p.openai_api_key or p.openai_base_url)


def _price_table(settings: Settings) -> dict[str, ModelPrice]:
    prices = dict(DEFAULT_PRICES)
    prices.update(parse_price_overrides(settings.cost.price_overrides))
    return prices


def _ceiling(prices: Iterable[ModelPrice]) -> ModelPrice:
    # The dearest rate of each bucket: an unpriced model is never under-billed.
    table = list(prices)
    return ModelPrice(
        input=max(p.input for p in table),
        output=max(p.output for p in table),
        cached_input=max(p.cached_input for p in table),
        cache_write=max(p.cache_write for p in table),
    )


def _capabilities(name: str, kind: ModelKind) -> frozenset[str]:
    if kind == "embedding":
        return frozenset({"embeddings"})
    return _CHAT_CAPABILITIES["anthropic" if name.lower().startswith("claude") else "openai"]
