"""Builds the LLM client stack: one client per registry provider, routing, fallback."""

from __future__ import annotations

import aiohttp

from agent.anthropic_client import AnthropicClient
from agent.base import LLMClient
from agent.breaker import ModelBreakers
from agent.errors import InvalidModelName, ModelNotFound
from agent.fallback import FallbackClient
from agent.model_specs import ProviderSpec
from agent.openai_client import OpenAIClient
from agent.provider_limits import ProviderRateLimiter, RateLimitedClient
from agent.registry import ModelRegistry
from agent.registry_client import RegistryClient
from agent.retry import RetryPolicy
from agent.simulated import SimulatedClient
from agent.simulation import Pace
from agent.traced_client import TracedClient
from server.registry_config import (
    ANTHROPIC_DEFAULT_BASE_URL,
    OPENAI_DEFAULT_BASE_URL,
    build_registry,
)
from server.settings import Settings

__all__ = [
    "ANTHROPIC_DEFAULT_BASE_URL",
    "OPENAI_DEFAULT_BASE_URL",
    "build_breakers",
    "build_llm_client",
    "build_provider",
    "build_registry",
    "provider_for_model",
]


def build_provider(
    settings: Settings, session: aiohttp.ClientSession, registry: ModelRegistry | None = None
) -> RegistryClient:
    """One client per provider of ``registry`` (built from the settings when None), behind
    a `RegistryClient`; no fallback."""
    registry = registry or build_registry(settings)
    simulated: SimulatedClient | None = None
    clients: dict[str, LLMClient] = {}
    for spec in registry.providers():
        client: LLMClient
        if spec.kind == "simulated":
            simulated = simulated or _simulated_client(settings)
            client = simulated
        else:
            client = _http_client(settings, session, spec)
        client = _paced(settings, spec, client)
        if settings.tracing.enabled:  # every attempt its own span (none of this when off)
            client = TracedClient(client, system=spec.kind)
        clients[spec.name] = client
    return RegistryClient(registry, clients)


def _simulated_client(settings: Settings) -> SimulatedClient:
    sim, models = settings.simulated, settings.models
    cheap = Pace(ttft_s=sim.cheap_ttft_ms / 1000, tokens_per_s=sim.cheap_tokens_per_s)
    strong = Pace(ttft_s=sim.strong_ttft_ms / 1000, tokens_per_s=sim.strong_tokens_per_s)
    return SimulatedClient(
        paces={models.cheap: cheap, models.fallback: cheap, models.strong: strong},
        default=strong,
    )


def _http_client(
    settings: Settings, session: aiohttp.ClientSession, spec: ProviderSpec
) -> LLMClient:
    timeout_s = spec.read_timeout_s or settings.providers.read_timeout_s
    if spec.kind == "anthropic":
        return AnthropicClient(
            session,
            base_url=spec.base_url or ANTHROPIC_DEFAULT_BASE_URL,
            api_key=spec.api_key or "",
            timeout_s=timeout_s,
            idle_timeout_s=settings.fallback.stream_idle_timeout_s,
            name=spec.name,
        )
    return OpenAIClient(
        session,
        base_url=spec.base_url or OPENAI_DEFAULT_BASE_URL,
        api_key=spec.api_key or "",
        timeout_s=timeout_s,
        idle_timeout_s=settings.fallback.stream_idle_timeout_s,
        name=spec.name,
        responses=spec.speaks_responses,
    )


def _paced(settings: Settings, spec: ProviderSpec, client: LLMClient) -> LLMClient:
    # Outbound RPM/TPM per provider, when configured: wait (bounded) instead of collecting 429s.
    if spec.rpm is None and spec.tpm is None:
        return client
    limiter = ProviderRateLimiter(
        spec.name,
        requests_per_minute=spec.rpm,
        tokens_per_minute=spec.tpm,
        max_wait_s=settings.limits.provider_max_wait_s,
    )
    return RateLimitedClient(client, limiter)


def build_breakers(settings: Settings) -> ModelBreakers:
    """One circuit breaker per model, as ``[fallback]`` configures them."""
    f = settings.fallback
    return ModelBreakers(
        failure_threshold=f.breaker_failure_threshold, cooldown_s=f.breaker_cooldown_s
    )


def build_llm_client(
    settings: Settings,
    session: aiohttp.ClientSession,
    registry: ModelRegistry,
    *,
    breakers: ModelBreakers | None = None,
) -> FallbackClient:
    """The registry's providers wrapped in retries, a circuit breaker and each model's
    fallback chain (``breakers``: the ones to use, e.g. to report their states)."""
    provider = build_provider(settings, session, registry)
    f = settings.fallback
    retry = RetryPolicy(
        max_attempts=f.max_attempts,
        base_delay_s=f.backoff_base_s,
        max_delay_s=f.backoff_max_s,
        total_deadline_s=f.total_deadline_s,
    )
    breakers = breakers or build_breakers(settings)
    return FallbackClient(
        provider,
        provider,
        timeout_s=f.primary_timeout_s,
        chain_for=lambda model: tuple(r.spec.name for r in registry.fallback_chain(model)),
        retry=retry,
        breaker_for=breakers.for_model,
        first_token_timeout_s=f.first_token_timeout_s,
        context_window_for=lambda model: registry.resolve(model).spec.context_window,
        prefill_for=lambda model: "prefill" in registry.resolve(model).spec.capabilities,
        continue_mid_stream=f.continue_mid_stream,
    )


def provider_for_model(
    settings: Settings, model: str, registry: ModelRegistry | None = None
) -> str | None:
    """The name of the provider that serves ``model`` (``simulated``, ``anthropic``,
    ``openai`` or a declared provider's name), or None when none does."""
    registry = registry or build_registry(settings)
    try:
        return registry.resolve(model).provider.name
    except (InvalidModelName, ModelNotFound):
        return None
