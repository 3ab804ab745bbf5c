"""Builds the batch lane from `Settings` and the app's components, and runs its worker in the
app's lifespan: the lane's state in Redis (or memory without it), its files in a directory,
each OpenAI- or Anthropic-wire provider's own batch API, and the completion core (on arq
queues with Redis) for deferred lines."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator

import aiohttp
import anyio
import redis.asyncio as redis

from agent.batch import (
    BatchLane,
    BatchRunner,
    DeferredLines,
    LinePlanner,
    LocalFiles,
    MemoryBatchStore,
    OpenAIBatchAPI,
    PollPolicy,
    ProviderBatchAPI,
    ProviderGroups,
    RedisBatchStore,
    RetryPolicy,
)
from agent.batch.anthropic_batches import AnthropicBatchAPI
from agent.batch.arq_queue import ArqDeferredQueue
from agent.batch.base import BatchStore, ResultStore
from agent.batch.deferred import QueueLimits
from agent.batch.lines import Line
from agent.batch.wire import BatchJob, BatchStats, LineResult
from agent.core.cache_policy import WireCache
from agent.registry import ModelRegistry
from agent.registry_prices import RegistryPrices
from agent.tokens import count_message_tokens
from agent.types import Usage
from cache.keys import CLASS_DEFAULT, CLASS_FAQ, CLASS_REALTIME, CLASS_SHORT, TTL_SHORT_S
from metrics.batch_pricing import BatchPrices
from metrics.cost_tracker import CallRecord, CostTracker
from metrics.rate_limit import RateLimiter, RateLimits
from metrics.rate_limit_memory import MemoryRateLimiter
from metrics.rate_limit_redis import RedisRateLimiter
from metrics.savings import split_saving
from server.batch_webhook import BatchWebhook
from server.composition import Components
from server.registry_config import ANTHROPIC_DEFAULT_BASE_URL, OPENAI_DEFAULT_BASE_URL
from server.settings import Settings
from server.settings_batch import BatchSettings

log = logging.getLogger("frugal.batch")
_TENANTS_KEPT = 10_000


class TrackedResults:
    """A `ResultStore` that also books each newly recorded answered line in the cost tracker
    (tier ``batch``), so ``/stats`` spend, savings (`metrics.savings`: interactive minus batch
    price, all of it for a cache answer) and the dashboard history include the batch lane."""

    def __init__(self, inner: ResultStore, store: BatchStore, tracker: CostTracker) -> None:
        self._inner = inner
        self._store = store
        self._tracker = tracker
        self._tenants: dict[str, str] = {}

    async def add_result(self, batch_id: str, result: LineResult) -> bool:
        """Record ``result`` once; book it when it was recorded and paid for."""
        added = await self._inner.add_result(batch_id, result)
        answered = result.source in ("provider_batch", "deferred") or result.status == "completed"
        if added and answered and result.model:
            await self._tracker.record(
                CallRecord(
                    model=result.model,
                    tier="batch",
                    tenant=await self._tenant(batch_id),
                    cost_usd_micros=result.cost_usd_micros,
                    batch_saved_usd_micros=split_saving(
                        None, result.saved_usd_micros, batch=True
                    ).batch,
                )
            )
        return added

    async def results(self, batch_id: str) -> dict[str, LineResult]:
        """Every recorded result of the batch by custom_id."""
        return await self._inner.results(batch_id)

    async def stats(self) -> BatchStats:
        """The lane's totals."""
        return await self._inner.stats()

    async def dead_letter(self, batch_id: str, result: LineResult) -> None:
        """Keep a line that failed for good."""
        await self._inner.dead_letter(batch_id, result)

    async def dead_letters(self, limit: int) -> list[tuple[str, LineResult]]:
        """The newest dead letters."""
        return await self._inner.dead_letters(limit)

    async def count_wait(self, reason: str) -> None:
        """Count a deferred line put off."""
        await self._inner.count_wait(reason)

    async def _tenant(self, batch_id: str) -> str:
        tenant = self._tenants.get(batch_id)
        if tenant is None:
            if len(self._tenants) > _TENANTS_KEPT:
                self._tenants.clear()  # a cache of ended batches' tenants: start afresh
            job = await self._store.get_job(batch_id)
            tenant = self._tenants[batch_id] = job.tenant if job is not None else "default"
        return tenant


def queue_limits(
    b: BatchSettings, client: redis.Redis | None, namespace: str
) -> dict[str, QueueLimits]:
    """Each configured provider's deferred-queue limits; the request and token windows are
    counted in Redis when there is one (shared by every replica), else in this process."""
    out: dict[str, QueueLimits] = {}
    for provider, limit in b.limits_by_provider().items():
        limits = RateLimits(
            requests=limit.requests, tokens=limit.tokens, window_s=b.deferred_limit_window_s
        )
        limiter: RateLimiter | None = None
        if limits.enabled:
            local = MemoryRateLimiter(limits)
            limiter = (
                RedisRateLimiter(client, limits, namespace=namespace, fallback=local)
                if client is not None
                else local
            )
        out[provider] = QueueLimits(
            concurrency=limit.concurrency,
            limiter=limiter,
            counts_tokens=limit.tokens is not None,
        )
    return out


def batch_apis(
    registry: ModelRegistry, session: aiohttp.ClientSession, timeout_s: float
) -> dict[str, ProviderBatchAPI]:
    """A batch API for every provider speaking OpenAI's or Anthropic's wire (the simulated
    provider, and passthrough-only names, go through the deferred queue)."""
    apis: dict[str, ProviderBatchAPI] = {}
    for spec in registry.providers():
        if spec.kind == "anthropic":
            apis[spec.name] = AnthropicBatchAPI(
                session,
                base_url=spec.base_url or ANTHROPIC_DEFAULT_BASE_URL,
                api_key=spec.api_key or "",
                provider=spec.name,
                timeout_s=timeout_s,
            )
        elif spec.kind == "openai":
            apis[spec.name] = OpenAIBatchAPI(
                session,
                base_url=spec.base_url or OPENAI_DEFAULT_BASE_URL,
                api_key=spec.api_key or "",
                provider=spec.name,
                timeout_s=timeout_s,
            )
    return apis


@contextlib.asynccontextmanager
async def open_batch_lane(
    settings: Settings, components: Components, session: aiohttp.ClientSession
) -> AsyncIterator[BatchLane | None]:
    """The lane (None when disabled), its runner working until the app stops."""
    b = settings.batch
    if not b.enabled:
        yield None
        return
    registry = components.registry
    raw_store: RedisBatchStore | MemoryBatchStore = (
        RedisBatchStore(components.redis, namespace=settings.redis.key_prefix)
        if components.redis is not None
        else MemoryBatchStore()
    )
    results = TrackedResults(raw_store, raw_store, components.cost.accounting.tracker)
    prices = BatchPrices(RegistryPrices(registry, components.cost.prices))
    cache = _wire_cache(settings, components)
    budget = components.cost.budget
    policy = components.core_policy

    async def hold_for(model: str, lines: list[Line]) -> int:
        # The group's worst case at the batch price: whole prompts plus each answer's cap.
        requests = [line.request("default") for line in lines]
        prompts = await anyio.to_thread.run_sync(  # token counting is CPU work
            lambda: [count_message_tokens(request.messages, model) for request in requests]
        )
        total = 0
        for request, prompt in zip(requests, prompts, strict=True):
            cap = request.max_tokens or policy.output_cap({model})
            if budget is not None:
                cap = budget.output_tokens(model, cap)
            usage = Usage(prompt=prompt, completion=cap * request.n)
            total += prices.cost_usd_micros(model, usage) or 0
        return total

    def route(model: str) -> tuple[str, str, str] | None:
        if registry.is_auto(model):
            return None
        resolved = registry.resolve(model)
        return resolved.provider.name, resolved.spec.name, resolved.upstream_name

    def provider_of(model: str) -> str:
        return "auto" if registry.is_auto(model) else registry.resolve(model).provider.name

    groups = ProviderGroups(
        apis=batch_apis(registry, session, settings.providers.read_timeout_s),
        results=results,
        prices=prices,
        cache=cache,
        budget=budget,
        hold_for=hold_for,
        poll=PollPolicy(initial_s=b.poll_initial_s, max_s=b.poll_max_s),
        wait_for_budget=b.wait_for_budget,
    )
    files = LocalFiles(b.files_dir)
    webhook = (
        BatchWebhook(session, url=b.webhook_url, secret=b.webhook_secret or "")
        if b.webhook_url
        else None
    )

    async def finished(job: BatchJob) -> None:
        if webhook is not None and not await webhook.send(job.batch):
            components.cost.metrics.degradation.count_webhook_failure("batch")

    retry = RetryPolicy(max_attempts=b.deferred_max_attempts, base_s=b.deferred_backoff_s)
    deferred = DeferredLines(
        components.core,
        provider_of=provider_of,
        per_provider=b.deferred_concurrency,
        limits=queue_limits(b, components.redis, settings.redis.key_prefix),
        retry=retry,
        wait_for_budget=b.wait_for_budget,
        wait_max_s=b.deferred_wait_max_s,
        dead_letter=results.dead_letter,
        waited=results.count_wait,
    )
    queue = None
    if settings.redis.url is not None:
        queue = ArqDeferredQueue(
            redis_url=settings.redis.url,
            namespace=settings.redis.key_prefix,
            lines=deferred,
            store=raw_store,
            results=results,
            retry=retry,
            poll_s=b.tick_s,
        )
    runner = BatchRunner(
        store=raw_store,
        results=results,
        files=files,
        planner=LinePlanner(cache=cache, results=results, groups=groups, route=route),
        groups=groups,
        deferred=deferred,
        queue=queue,
        on_finished=finished,
    )
    lane = BatchLane(store=raw_store, results=results, files=files, runner=runner)
    async with contextlib.AsyncExitStack() as stack:
        if queue is not None:
            providers = [spec.name for spec in registry.providers()]
            await stack.enter_async_context(queue.running([*providers, "auto", "unknown"]))
        group = await stack.enter_async_context(anyio.create_task_group())
        group.start_soon(functools.partial(runner.run, interval_s=b.tick_s))
        try:
            yield lane
        finally:
            group.cancel_scope.cancel()


def _wire_cache(settings: Settings, components: Components) -> WireCache:
    # The same exact and semantic caches as the core, under the same policy.
    c = settings.cache
    return WireCache(
        components.prompt_cache if c.exact_enabled else None,
        components.semantic_cache,
        cache_nonzero_temperature=c.cache_nonzero_temperature,
        cache_multiple_choices=c.cache_multiple_choices,
        semantic_max_turns=c.semantic_max_turns,
        ttl_by_class={
            CLASS_FAQ: c.ttl_faq_s,
            CLASS_DEFAULT: c.ttl_default_s,
            CLASS_REALTIME: c.ttl_realtime_s,
            CLASS_SHORT: TTL_SHORT_S,
        },
    )
