"""Builds the LLM client stack from settings: provider clients, dispatch, fallback."""

from __future__ import annotations

import aiohttp

from agent.anthropic_client import AnthropicClient
from agent.base import LLMClient
from agent.breaker import CircuitBreaker
from agent.dispatch import ModelDispatchClient
from agent.fallback import FallbackClient
from agent.openai_client import OpenAIClient
from agent.provider_limits import ProviderRateLimiter, RateLimitedClient
from agent.retry import RetryPolicy
from agent.simulated import SimulatedClient
from agent.simulation import Pace
from server.settings import Settings

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"


def build_provider(settings: Settings, session: aiohttp.ClientSession) -> LLMClient:
    """The bare provider client(s) the settings describe, without fallback."""
    if settings.uses_simulated_provider:
        sim = settings.simulated
        models = settings.models
        cheap = Pace(ttft_s=sim.cheap_ttft_ms / 1000, tokens_per_s=sim.cheap_tokens_per_s)
        strong = Pace(ttft_s=sim.strong_ttft_ms / 1000, tokens_per_s=sim.strong_tokens_per_s)
        return SimulatedClient(
            paces={models.cheap: cheap, models.fallback: cheap, models.strong: strong},
            default=strong,
        )
    p = settings.providers
    routes: list[tuple[str, LLMClient]] = []
    if p.mode in ("auto", "anthropic") and (p.anthropic_api_key or p.anthropic_base_url):
        anthropic = _paced(
            settings,
            "anthropic",
            AnthropicClient(
                session,
                base_url=p.anthropic_base_url or ANTHROPIC_DEFAULT_BASE_URL,
                api_key=p.anthropic_api_key or "",
                timeout_s=p.read_timeout_s,
            ),
        )
        routes.append(("claude", anthropic))
        if p.mode == "anthropic":
            routes.append(("", anthropic))
    if p.mode in ("auto", "openai") and (p.openai_api_key or p.openai_base_url):
        openai = OpenAIClient(
            session,
            base_url=p.openai_base_url or OPENAI_DEFAULT_BASE_URL,
            api_key=p.openai_api_key or "",
            timeout_s=p.read_timeout_s,
        )
        routes.append(("", _paced(settings, "openai", openai)))
    return ModelDispatchClient(routes, name="providers")


def _paced(settings: Settings, provider: str, client: LLMClient) -> LLMClient:
    # Outbound RPM/TPM per provider, when configured: wait (bounded) instead of collecting 429s.
    lim = settings.limits
    rpm, tpm = getattr(lim, f"{provider}_rpm"), getattr(lim, f"{provider}_tpm")
    if rpm is None and tpm is None:
        return client
    limiter = ProviderRateLimiter(
        provider,
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        max_wait_s=lim.provider_max_wait_s,
    )
    return RateLimitedClient(client, limiter)


def build_llm_client(settings: Settings, session: aiohttp.ClientSession) -> FallbackClient:
    """Provider(s) wrapped in retries, a circuit breaker and the fallback model."""
    provider = build_provider(settings, session)
    f = settings.fallback
    retry = RetryPolicy(
        max_attempts=f.max_attempts,
        base_delay_s=f.backoff_base_s,
        max_delay_s=f.backoff_max_s,
        total_deadline_s=f.total_deadline_s,
    )
    breaker = CircuitBreaker(
        failure_threshold=f.breaker_failure_threshold, cooldown_s=f.breaker_cooldown_s
    )
    return FallbackClient(
        provider,
        provider,
        timeout_s=f.primary_timeout_s,
        secondary_model=settings.models.fallback,
        retry=retry,
        breaker=breaker,
    )


def provider_for_model(settings: Settings, model: str) -> str | None:
    """Which configured provider would serve ``model`` (``simulated``, ``anthropic``,
    ``openai``), or None when none would; mirrors the dispatch order of `build_provider`."""
    if settings.uses_simulated_provider:
        return "simulated"
    p = settings.providers
    has_anthropic = p.mode in ("auto", "anthropic") and bool(
        p.anthropic_api_key or p.anthropic_base_url
    )
    has_openai = p.mode in ("auto", "openai") and bool(p.openai_api_key or p.openai_base_url)
    if has_anthropic and (p.mode == "anthropic" or model.lower().startswith("claude")):
        return "anthropic"
    return "openai" if has_openai else None
