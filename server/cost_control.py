"""Builds the money side of the app from `Settings`: prices, the cost tracker, the budget
guard and its alerts, the inbound rate limiter, auth and the Prometheus metrics.

With Redis configured, the cost aggregates, budget ledger and rate-limit logs live there, so
every replica adds into (and is held to) one total; without it they live in this process.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import redis.asyncio as redis

from metrics.alert_webhook import AlertWebhook
from metrics.budget import BudgetGuard
from metrics.budget_alerts import AlertCallback, BudgetAlert
from metrics.budget_ledger import BudgetLedger, MemoryBudgetLedger
from metrics.budget_redis import RedisBudgetLedger
from metrics.budget_windows import BudgetCaps
from metrics.cost_journal import CostJournal
from metrics.cost_store import CostStore, MemoryCostStore
from metrics.cost_store_redis import RedisCostStore
from metrics.cost_tracker import CostTracker
from metrics.history import History
from metrics.history_redis import RedisHistoryStore
from metrics.history_store import HistoryStore, MemoryHistoryStore
from metrics.output_samples_redis import RedisOutputSamples
from metrics.price_overrides import price_table
from metrics.pricing import PriceTable
from metrics.prometheus import GatewayMetrics
from metrics.rate_limit import RateLimiter, RateLimits
from metrics.rate_limit_memory import MemoryRateLimiter
from metrics.rate_limit_redis import RedisRateLimiter
from server.accounting import Accounting
from server.auth import ApiKeys
from server.auth_failures_redis import RedisFailureLedger
from server.settings import BudgetSettings, Settings


@dataclass
class CostControl:
    """What the routes and the pipeline use to price, cap, limit and account requests."""

    prices: PriceTable
    accounting: Accounting
    budget: BudgetGuard | None
    limiter: RateLimiter | None
    rate_limits: RateLimits
    auth: ApiKeys
    metrics: GatewayMetrics
    history: History
    """The dashboard's per-minute history (in Redis when configured)."""
    alert_webhook: AlertWebhook | None = None
    """The budget alert sender, when configured (its failures are on ``/metrics``)."""


@contextlib.asynccontextmanager
async def open_cost_control(
    settings: Settings,
    client: redis.Redis | None,
    session: aiohttp.ClientSession,
    *,
    metrics: GatewayMetrics | None = None,
) -> AsyncIterator[CostControl]:
    """Build it all; the budget webhook sender (if configured) and, with Redis, the replay of
    the cost journal run while the block runs."""
    gateway_metrics = metrics or GatewayMetrics(max_models=settings.cost.max_label_values)
    overrides = settings.cost.price_overrides
    prices = price_table(overrides) if overrides else PriceTable()
    lim = settings.limits
    rate_limits = RateLimits(
        requests=lim.requests_per_window, tokens=lim.tokens_per_window, window_s=lim.window_s
    )
    limiter = _rate_limiter(settings, rate_limits, client)
    journal = None
    if client is not None:
        journal = CostJournal(
            settings.cost.journal_dir or Path(tempfile.gettempdir()) / "frugal-journal",
            max_bytes=settings.cost.journal_max_bytes,
        )
        await journal.open()
    history = _history(settings, client)
    tracker = CostTracker(
        _cost_store(settings, client),
        window_s=settings.cost.window_s,
        bucket_s=settings.cost.bucket_s,
        journal=journal,
        max_names=settings.cost.max_label_values,
        history=history,
    )
    async with contextlib.AsyncExitStack() as stack:
        if journal is not None:
            interval = settings.cost.journal_replay_interval_s
            await stack.enter_async_context(_replaying(tracker, interval))
        webhook = None
        if settings.budget.alert_webhook_url:
            webhook = AlertWebhook(session, settings.budget.alert_webhook_url)
            await stack.enter_async_context(webhook.running())

        async def on_alert(alert: BudgetAlert) -> None:
            scope = "global" if alert.tenant is None else "tenant"
            gateway_metrics.count_budget_alert(scope, alert.period, alert.threshold_percent)
            if webhook is not None:
                await webhook(alert)

        budget = None
        if settings.budget.enabled:
            samples = _output_samples(settings, client)
            budget = _budget_guard(settings.budget, _ledger(settings, client), on_alert, samples)
            if samples is not None:
                # Estimated holds use the fleet's answers (metrics.output_estimate).
                await stack.enter_async_context(_in_background(budget.keep_syncing_outputs))
        auth = _api_keys(settings, client)
        if client is not None and (auth.enabled or settings.server.admin_key):
            # Failed authentications count fleet-wide (server.auth_failures).
            await stack.enter_async_context(_in_background(auth.failures.keep_syncing))
        yield CostControl(
            prices=prices,
            accounting=Accounting(tracker=tracker, metrics=gateway_metrics, limiter=limiter),
            budget=budget,
            limiter=limiter,
            rate_limits=rate_limits,
            auth=auth,
            metrics=gateway_metrics,
            alert_webhook=webhook,
            history=history,
        )


def _api_keys(settings: Settings, client: redis.Redis | None) -> ApiKeys:
    ledger = None
    if client is not None:
        ledger = RedisFailureLedger(
            client, namespace=settings.redis.key_prefix, op_timeout_s=settings.redis.timeout_s
        )
    return ApiKeys(
        settings.auth.api_keys,
        trust_forwarded_for=settings.limits.trust_forwarded_for,
        signing_keys=settings.auth.user_signing_keys,
        signature_window_s=settings.auth.user_signature_window_s,
        read_keys=settings.auth.read_keys,
        admin_key=settings.server.admin_key,
        max_failures_per_minute=settings.auth.max_failures_per_minute,
        failure_ledger=ledger,
        session_secret=settings.auth.session_secret,
        session_ttl_s=settings.auth.session_ttl_s,
    )


@contextlib.asynccontextmanager
async def _in_background(run: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def _replaying(tracker: CostTracker, interval_s: float) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(tracker.keep_replaying, interval_s)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()


def _cost_store(settings: Settings, client: redis.Redis | None) -> CostStore:
    if client is None:
        return MemoryCostStore(max_names=settings.cost.max_label_values)
    return RedisCostStore(
        client,
        namespace=settings.redis.key_prefix,
        idle_ttl_s=settings.cost.redis_idle_ttl_s,
        op_timeout_s=settings.redis.timeout_s,
        max_names=settings.cost.max_label_values,
    )


def _history(settings: Settings, client: redis.Redis | None) -> History:
    store: HistoryStore = MemoryHistoryStore()
    if client is not None:
        store = RedisHistoryStore(
            client, namespace=settings.redis.key_prefix, op_timeout_s=settings.redis.timeout_s
        )
    d = settings.dashboard
    return History(store, bucket_s=d.history_bucket_s, retention_s=d.history_retention_s)


def _ledger(settings: Settings, client: redis.Redis | None) -> BudgetLedger:
    if client is None:
        return MemoryBudgetLedger()
    return RedisBudgetLedger(
        client, namespace=settings.redis.key_prefix, op_timeout_s=settings.redis.timeout_s
    )


def _output_samples(settings: Settings, client: redis.Redis | None) -> RedisOutputSamples | None:
    if client is None or settings.budget.hold_mode != "estimated":
        return None
    return RedisOutputSamples(
        client, namespace=settings.redis.key_prefix, op_timeout_s=settings.redis.timeout_s
    )


def _budget_guard(
    b: BudgetSettings,
    ledger: BudgetLedger,
    on_alert: AlertCallback,
    output_samples: RedisOutputSamples | None,
) -> BudgetGuard:
    overrides: dict[str, BudgetCaps] = {}
    for entry in b.tenant_overrides:
        tenant, _, caps = entry.partition("=")
        hourly, _, daily = caps.partition("/")
        overrides[tenant] = BudgetCaps(
            hourly_usd_micros=int(hourly) if hourly else None,
            daily_usd_micros=int(daily) if daily else None,
        )
    return BudgetGuard(
        ledger,
        global_caps=BudgetCaps(b.global_hourly_usd_micros, b.global_daily_usd_micros),
        tenant_caps=BudgetCaps(b.tenant_hourly_usd_micros, b.tenant_daily_usd_micros),
        tenant_overrides=overrides,
        timezone=b.timezone,
        alert_percents=b.alert_percents,
        on_alert=on_alert,
        fail_open=b.fail_open,
        hold_ttl_s=b.hold_ttl_s,
        hold_mode=b.hold_mode,
        output_samples=output_samples,
    )


def _rate_limiter(
    settings: Settings, limits: RateLimits, client: redis.Redis | None
) -> RateLimiter | None:
    if not limits.enabled:
        return None
    local = MemoryRateLimiter(limits)
    if client is None:
        return local
    return RedisRateLimiter(
        client,
        limits,
        namespace=settings.redis.key_prefix,
        op_timeout_s=settings.redis.timeout_s,
        fallback=local,
    )
