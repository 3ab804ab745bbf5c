"""The rerank step of a knowledge base, built from the model registry: the rerank model's
provider (an OpenAI-compatible endpoint serving ``/rerank``), its key, and its price."""

from __future__ import annotations

import aiohttp

from agent.agents.spec import RerankSpec
from agent.core.costing import CostModel
from agent.errors import AgentError
from agent.kb.rerank import ProviderReranker
from agent.registry import ModelRegistry
from server.providers import OPENAI_DEFAULT_BASE_URL


def provider_reranker(
    registry: ModelRegistry, session: aiohttp.ClientSession, costs: CostModel, spec: RerankSpec
) -> ProviderReranker:
    """The reranker of ``spec``; raises `ValueError` when its model is unknown or not served
    by an OpenAI-compatible provider (start-up stops, naming it)."""
    try:
        resolved = registry.resolve(spec.model)
    except AgentError as exc:
        raise ValueError(f"rerank model {spec.model!r}: {exc}") from exc
    provider = resolved.provider
    if provider.kind != "openai":
        raise ValueError(
            f"rerank model {spec.model!r} is served by {provider.name!r} ({provider.kind}); "
            "reranking needs an OpenAI-compatible provider with a /rerank endpoint"
        )
    return ProviderReranker(
        session,
        base_url=provider.base_url or OPENAI_DEFAULT_BASE_URL,
        api_key=provider.api_key or "",
        model=resolved.spec.name,
        upstream_model=resolved.upstream_name,
        costs=costs,
        provider=provider.name,
        timeout_s=spec.timeout_s,
    )
