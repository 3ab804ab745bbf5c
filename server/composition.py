"""Builds the `Agent` and everything it needs from `Settings`, inside the app's lifespan.

Every resource that must be closed (Redis pool, embedder worker, replication task) is entered
on one `AsyncExitStack`, so shutdown releases them in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import anyio
import redis.asyncio as redis

from agent.agents.catalog import AgentCatalog, Blueprint, blueprint, variant_specs
from agent.agents.experiments import Experiments
from agent.agents.loader import bundled_support
from agent.agents.toolbox import open_toolbox
from agent.base import Embedder, LLMClient
from agent.breaker import ModelBreakers
from agent.core import CompletionCore, CorePolicy
from agent.core.cache_policy import WireCache
from agent.core.call import ProviderCall
from agent.core.embeddings import (
    EmbeddingsBackend,
    EmbeddingsCore,
    LocalEmbeddings,
    ProviderEmbeddings,
)
from agent.core.judge import ModelJudge
from agent.embedders import BatchEmbedder, E5Embedder, MiniLMEmbedder
from agent.embedders.e5 import MODEL_NAME as E5_MODEL_NAME
from agent.embedders.pair_judge import ThreadedPairJudge, shared_pair_judge
from agent.guard import Guard, build_guard
from agent.history import ConversationHistory
from agent.kb import KnowledgeBaseService
from agent.openai_embedder import OpenAIEmbedder
from agent.pipeline import Agent, RequestLimits
from agent.registry import ModelRegistry
from agent.registry_prices import RegistryPrices
from agent.tokens import encoding_for_model
from cache.base import PairJudge, TTLStore
from cache.failopen import FailOpenStore
from cache.keys import CLASS_DEFAULT, CLASS_FAQ, CLASS_REALTIME, CLASS_SHORT, TTL_SHORT_S
from cache.memory import MemoryTTLStore
from cache.prompt_cache import PromptCache
from cache.redis_store import RedisTTLStore, create_redis_client
from cache.response_store import ResponseStore
from cache.semantic_cache import SemanticCache
from cache.semantic_replication import RedisSemanticReplicator
from cache.verdicts_redis import RedisVerdicts
from cache.verified_hits import MemoryVerdicts, VerdictLog, Verdicts
from metrics.guard_counts import GuardCounts
from metrics.prometheus import GatewayMetrics
from router import EmbeddingRouter, RuleRouter, load_examples
from router.base import Router
from server.cost_control import CostControl, open_cost_control
from server.kb_rerank import provider_reranker
from server.providers import (
    OPENAI_DEFAULT_BASE_URL,
    build_breakers,
    build_llm_client,
    build_registry,
)
from server.semantic_store import open_vector_backend
from server.settings import Settings, semantic_threshold_for

log = logging.getLogger("frugal.server")


@dataclass
class Components:
    """What the routes use; built once per process."""

    agent: Agent
    """The default agent (``agents.select(None, tenant)`` for a tenant's own)."""
    agents: AgentCatalog
    knowledge: dict[str, KnowledgeBaseService]
    """Ingested knowledge bases by name (see ``/admin/kb``)."""
    experiments: Experiments
    """A/B counters and feedback of the agents' variants."""
    core: CompletionCore
    embeddings: EmbeddingsCore
    core_policy: CorePolicy
    llm: LLMClient
    store: TTLStore
    prompt_cache: PromptCache
    semantic_cache: SemanticCache | None
    embedder: Embedder
    redis: redis.Redis | None
    replicator: RedisSemanticReplicator | None
    cost: CostControl
    registry: ModelRegistry
    responses: ResponseStore
    """Stored ``/v1/responses`` answers, in the same store as the caches (so in Redis when
    configured: a conversation continues on any replica)."""
    guard_counts: GuardCounts | None = None
    breakers: ModelBreakers | None = None
    """The models' circuit breakers (their states are on ``/metrics``)."""


@contextlib.asynccontextmanager
async def build_components(
    settings: Settings, session: aiohttp.ClientSession, *, metrics_dir: str | None = None
) -> AsyncIterator[Components]:
    """Open every resource the settings ask for; close them all on exit. ``metrics_dir``:
    the Prometheus directory shared by several worker processes (None: one process)."""
    async with contextlib.AsyncExitStack() as stack:
        registry = build_registry(settings)
        breakers = build_breakers(settings)
        llm = build_llm_client(settings, session, registry, breakers=breakers)
        # Load the tokenizers now (~0.7 s), off the loop, instead of in the first request.
        models = settings.models
        for model in dict.fromkeys((models.cheap, models.strong, models.fallback)):
            await anyio.to_thread.run_sync(encoding_for_model, model)
        client, store = await _open_store(settings, stack)
        metrics = GatewayMetrics(
            multiprocess_dir=metrics_dir, max_models=settings.cost.max_label_values
        )
        cost = await stack.enter_async_context(
            open_cost_control(settings, client, session, metrics=metrics)
        )
        prices = RegistryPrices(registry, cost.prices)
        embedder, unknown_ratio, truncated = await open_embedder(settings, session, stack)
        ttl_by_class = {
            CLASS_FAQ: settings.cache.ttl_faq_s,
            CLASS_DEFAULT: settings.cache.ttl_default_s,
            CLASS_REALTIME: settings.cache.ttl_realtime_s,
            CLASS_SHORT: TTL_SHORT_S,
        }
        prompt_cache = PromptCache(
            store,
            ttl_by_class=ttl_by_class,
            cache_nonzero_temperature=settings.cache.cache_nonzero_temperature,
        )
        judge = None
        if settings.cache.semantic_verify_model is not None:
            judge = ModelJudge(
                ProviderCall(llm=llm, costs=prices, budget=cost.budget),
                registry.resolve(settings.cache.semantic_verify_model).spec.name,
                cost.accounting.tracker.record,
            )
        semantic, replicator = await _open_semantic_cache(
            settings, embedder, (unknown_ratio, truncated), client, stack, judge
        )
        a = settings.agent
        core_policy = CorePolicy(
            cheap_model=models.cheap,
            strong_model=models.strong,
            fallback_models=(models.fallback,),
            auto_models=frozenset(registry.auto_aliases),
            canonical=lambda model: registry.resolve(model).spec.name,
            max_output_for=lambda model: registry.resolve(model).spec.max_output_tokens,
            fallbacks_for=lambda model: tuple(
                resolved.spec.name for resolved in registry.fallback_chain(model)
            ),
        )
        router = await _build_router(settings, embedder)
        guard_counts = GuardCounts(metrics) if settings.security.policy.active else None
        guard = _build_guard(settings, guard_counts)
        config = settings.agents if settings.agents.definitions else bundled_support()
        toolbox = await open_toolbox(
            config,
            embedder=embedder,
            session=session,
            stack=stack,
            kb_store=store if client is not None else None,
            reranker_for=lambda spec: provider_reranker(registry, session, prices, spec),
        )

        def build(plan: Blueprint) -> Agent:
            answers = plan.spec.cache.answers
            return Agent(
                guard=guard,
                llm=llm,
                router=router,
                hold_models_for=core_policy.reachable,
                cheap_model=settings.models.cheap,
                strong_model=settings.models.strong,
                costs=prices,
                budget=cost.budget,
                tools=plan.tools,
                system_prompt=plan.prompt,
                profile=plan.profile,
                prompt_cache=prompt_cache if settings.cache.exact_enabled and answers else None,
                semantic_cache=semantic if answers else None,
                history=ConversationHistory(
                    store,
                    max_turns=a.history_max_turns,
                    ttl_s=a.history_ttl_s,
                    llm=llm,
                    summary_model=settings.models.cheap,
                ),
                limits=RequestLimits(
                    max_messages=a.max_messages,
                    max_prompt_tokens=a.max_prompt_tokens,
                    max_completion_tokens=a.max_completion_tokens,
                ),
                max_iterations=plan.max_iterations,
                semantic_max_turns=settings.cache.semantic_max_turns,
                cache_nonzero_temperature=settings.cache.cache_nonzero_temperature,
                simulated=settings.uses_simulated_provider,
            )

        groups: dict[str, list[tuple[str, float, Agent]]] = {}
        try:
            for defined in config.definitions:
                for variant, weight, spec in variant_specs(defined):
                    plan = blueprint(
                        spec,
                        toolbox,
                        allowed_risky=a.allowed_risky_tools,
                        max_iterations=a.max_iterations,
                        store=store,
                        variant=variant,
                    )
                    groups.setdefault(spec.name, []).append((variant, weight, build(plan)))
        except ValueError as exc:
            raise RuntimeError(f"agents: {exc}") from exc
        agents = AgentCatalog(
            groups, default=config.default_name, tenant_defaults=config.tenant_defaults
        )
        agent = agents.select(None, "")
        core = CompletionCore(
            llm=llm,
            router=router,
            costs=prices,
            budget=cost.budget,
            cache=WireCache(
                prompt_cache if settings.cache.exact_enabled else None,
                semantic,
                cache_nonzero_temperature=settings.cache.cache_nonzero_temperature,
                cache_multiple_choices=settings.cache.cache_multiple_choices,
                semantic_max_turns=settings.cache.semantic_max_turns,
                ttl_by_class=ttl_by_class,
            ),
            policy=core_policy,
            guard=guard,
        )
        embeddings = EmbeddingsCore(
            backends=_local_embeddings(embedder, settings),
            default=_provider_embeddings(settings, session),
            costs=prices,
            store=store if settings.cache.exact_enabled else None,
            ttl_s=settings.cache.ttl_default_s,
        )
        yield Components(
            agent,
            agents,
            toolbox.knowledge,
            Experiments(store, agents.arms),
            core,
            embeddings,
            core_policy,
            llm,
            store,
            prompt_cache,
            semantic,
            embedder,
            client,
            replicator,
            cost,
            registry,
            ResponseStore(store, ttl_s=settings.responses.store_ttl_s),
            guard_counts,
            breakers=breakers,
        )


def _build_guard(settings: Settings, counts: GuardCounts | None) -> Guard | None:
    s = settings.security
    return build_guard(
        s.policy,
        kinds=s.redact_kinds,
        phone_regions=s.phone_regions,
        national_ids=s.national_ids,
        observer=counts,
    )


def _local_embeddings(embedder: Embedder, settings: Settings) -> dict[str, EmbeddingsBackend]:
    # The gateway's own embedder answers for its model name when it runs locally.
    if settings.embedder.backend != "local":
        return {}
    return {settings.embedder.model: LocalEmbeddings(embedder, model=settings.embedder.model)}


def _provider_embeddings(
    settings: Settings, session: aiohttp.ClientSession
) -> EmbeddingsBackend | None:
    p = settings.providers
    if settings.uses_simulated_provider or not (p.openai_api_key or p.openai_base_url):
        return None
    return ProviderEmbeddings(
        session,
        base_url=p.openai_base_url or OPENAI_DEFAULT_BASE_URL,
        api_key=p.openai_api_key or "",
        timeout_s=p.read_timeout_s,
    )


async def _open_store(
    settings: Settings, stack: contextlib.AsyncExitStack
) -> tuple[redis.Redis | None, TTLStore]:
    if settings.redis.url is None:
        return None, MemoryTTLStore(max_entries=settings.cache.memory_max_entries)
    client = create_redis_client(
        settings.redis.url, pool_size=settings.redis.pool_size, timeout_s=settings.redis.timeout_s
    )
    redis_store = RedisTTLStore(
        client, namespace=settings.redis.key_prefix, op_timeout_s=settings.redis.timeout_s
    )
    stack.push_async_callback(redis_store.aclose)
    return client, FailOpenStore(redis_store)


async def open_embedder(
    settings: Settings, session: aiohttp.ClientSession, stack: contextlib.AsyncExitStack
) -> tuple[Embedder, Callable[[str], float] | None, Callable[[str], bool] | None]:
    """The configured, batched embedder; how to measure what share of a text it cannot
    represent; and whether a text overflows its window (None: it never truncates silently).
    Also used by ``frugal calibrate``, so calibration measures the deployed embedder."""
    e = settings.embedder
    inner: Embedder
    unknown_ratio = truncated = None
    if e.backend == "openai":
        p = settings.providers
        inner = OpenAIEmbedder(
            session,
            base_url=p.openai_base_url or OPENAI_DEFAULT_BASE_URL,
            api_key=p.openai_api_key or "",
            model=e.model,
        )
    elif e.model == E5_MODEL_NAME:
        # Its vocabulary covers ~100 languages: no unknown-token check, only the window.
        e5 = await stack.enter_async_context(E5Embedder())
        inner, truncated = e5, e5.truncated
    else:
        minilm = await stack.enter_async_context(
            MiniLMEmbedder.load(runtime=e.runtime, helper_process=e.helper_process)
        )
        inner, unknown_ratio, truncated = minilm, minilm.unknown_token_ratio, minilm.truncated
    batched = BatchEmbedder(
        inner,
        batch_size=e.batch_size,
        max_concurrency=e.max_concurrency,
        delay_between_batches_s=e.batch_delay_s,
    )
    return batched, unknown_ratio, truncated


async def open_pair_judge(settings: Settings, stack: contextlib.AsyncExitStack) -> PairJudge | None:
    """The configured pair judge (None when off), running until *stack* closes; its model is
    loaded once per process, in a thread. Also used by ``frugal calibrate``."""
    if settings.cache.semantic_judge == "off":
        return None
    model = await anyio.to_thread.run_sync(shared_pair_judge, settings.embedder.runtime)
    return await stack.enter_async_context(ThreadedPairJudge(model))


async def _open_semantic_cache(
    settings: Settings,
    embedder: Embedder,
    checks: tuple[Callable[[str], float] | None, Callable[[str], bool] | None],
    client: redis.Redis | None,
    stack: contextlib.AsyncExitStack,
    judge: ModelJudge | None,
) -> tuple[SemanticCache | None, RedisSemanticReplicator | None]:
    c = settings.cache
    if not c.semantic_enabled:
        return None, None
    vectors = await open_vector_backend(settings, embedder, client)
    replicator = None
    if client is not None and vectors is None:  # a shared index needs no replication
        replicator = RedisSemanticReplicator(
            client, embedder_name=embedder.name, namespace=settings.redis.key_prefix
        )
    semantic = SemanticCache(
        embedder,
        threshold=semantic_threshold_for(c, settings.embedder),
        max_entries=c.semantic_max_entries,
        max_unknown_token_ratio=c.max_unknown_token_ratio,
        unknown_ratio=checks[0],
        truncated=checks[1],
        ambiguity_margin=c.semantic_ambiguity_margin,
        on_store=replicator.publish if replicator else None,
        backend=vectors,
        verifier=judge,
        verdicts=_verdicts(settings, embedder, client) if judge is not None else None,
        verify_floor=c.semantic_verify_floor,
        pair_judge=await open_pair_judge(settings, stack),
        judge_min_probability=c.semantic_judge_min_probability,
    )
    if replicator is not None:
        await stack.enter_async_context(replicator.running(semantic))
    return semantic, replicator


def _verdicts(settings: Settings, embedder: Embedder, client: redis.Redis | None) -> Verdicts:
    # With Redis, every replica learns from the verdicts of all (one judge call per verdict).
    log = VerdictLog(settings.cache.semantic_max_error_rate)
    if client is None:
        return MemoryVerdicts(log)
    return RedisVerdicts(
        client,
        log,
        embedder_name=embedder.name,
        namespace=settings.redis.key_prefix,
        op_timeout_s=settings.redis.timeout_s,
    )


async def _build_router(settings: Settings, embedder: Embedder) -> Router:
    r = settings.router
    rules = RuleRouter(
        cheap_model=settings.models.cheap,
        strong_model=settings.models.strong,
        max_turns=r.max_turns,
        max_chars=r.max_chars,
        keywords=r.keywords,
        benign_phrases=r.benign_phrases,
    )
    if r.kind == "rules":
        return rules
    return await EmbeddingRouter.create(
        embedder,
        load_examples(r.examples_path),
        cheap_model=settings.models.cheap,
        strong_model=settings.models.strong,
        fallback=rules,
        k=r.k,
        margin=r.margin,
        min_similarity=r.min_similarity,
        defer_cjk=r.defer_cjk,
        batch_size=settings.embedder.batch_size,
    )
