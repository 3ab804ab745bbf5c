"""`ArqDeferredQueue`: the deferred lines of batches as arq jobs in Redis, one queue per
provider, each worked by an arq `Worker` with ``max_jobs`` = the provider's concurrency.

Why arq: its job ids make enqueueing idempotent (a line queued again after a restart, or by
another replica, is not queued twice), it retries with a per-try delay (`arq.Retry`) up to
``max_tries``, it defers jobs (``_defer_by``), it speaks redis-py (already ours) and runs in
process. A line its provider's rate limit or the budget puts off is queued again as a fresh
job deferred by the wait (its id gains ``:d<n>``), carrying its tries so far, so waiting never
uses up the line's tries. A job that fails for
good goes to the dead letters and ends its line ``failed``; a line's result is recorded once
(`ResultStore.add_result`), so a job run twice after a crash still counts once.

arq keeps its own keys (``arq:job:<id>``, ``arq:result:<id>`` …); the job ids and queue names
carry the lane's namespace, so two deployments on one Redis do not meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterable
from typing import Any, Final

import anyio
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Retry, Worker, func
from redis.exceptions import RedisError

from agent.batch.base import BatchStore, ResultStore
from agent.batch.deferred import DeferredLines, RetryPolicy
from agent.batch.lines import Line
from agent.batch.wire import LineResult
from cache.errors import StoreUnavailable
from cache.keys import BATCH_PREFIX

log = logging.getLogger("frugal.batch")

JOB_FUNCTION: Final = "frugal_batch_line"
_RECONNECT_FIRST_S = 0.5
_RECONNECT_MAX_S = 30.0


class ArqDeferredQueue:
    """Queues deferred lines and works them with arq, per provider."""

    def __init__(
        self,
        *,
        redis_url: str,
        namespace: str,
        lines: DeferredLines,
        store: BatchStore,
        results: ResultStore,
        retry: RetryPolicy,
        poll_s: float,
    ) -> None:
        # No retries inside arq's connect: `_serve` retries with its own backoff.
        self._settings = RedisSettings.from_dsn(redis_url)
        self._settings.conn_retries = 0
        self._namespace = namespace
        self._lines = lines
        self._results = results
        self._store = store
        self._retry = retry
        self._poll_s = poll_s
        self._pool: ArqRedis | None = None

    def queue_name(self, provider: str) -> str:
        """The arq queue of ``provider``'s deferred lines."""
        return f"{self._namespace}{BATCH_PREFIX}queue:{provider}"

    async def enqueue(self, batch_id: str, tenant: str, provider: str, line: Line) -> None:
        """Queue one line (again is a no-op while its job exists or its result is kept).

        Raises `StoreUnavailable` while Redis cannot be reached (the runner tries again)."""
        await self._put(batch_id, tenant, provider, line, attempts=0, deferrals=0, delay_s=None)

    async def _put(
        self,
        batch_id: str,
        tenant: str,
        provider: str,
        line: Line,
        *,
        attempts: int,
        deferrals: int,
        delay_s: float | None,
    ) -> None:
        # A line put off is queued again as a fresh job (``:d<n>``, so queueing it twice is
        # still a no-op) carrying its tries so far: arq counts only real tries per job.
        if self._pool is None:
            raise StoreUnavailable("the deferred queue is not connected to Redis")
        # The {batch} hash tag in the job id puts arq's job, in-progress and result keys in
        # the queue's Redis Cluster slot (arq moves them together).
        job_id = f"{self._namespace}{BATCH_PREFIX}{batch_id}:{line.custom_id}"
        try:
            await self._pool.enqueue_job(
                JOB_FUNCTION,
                batch_id,
                tenant,
                line.custom_id,
                line.body,
                protocol=line.protocol,
                attempts=attempts,
                deferrals=deferrals,
                _job_id=job_id + (f":d{deferrals}" if deferrals else ""),
                _queue_name=self.queue_name(provider),
                _defer_by=delay_s,
            )
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"deferred queue: {exc}") from exc

    @contextlib.asynccontextmanager
    async def running(self, providers: Iterable[str]) -> AsyncIterator[None]:
        """Work every provider's queue until exit, connecting (and reconnecting after a Redis
        outage) in the background, so the app starts and serves while Redis is down. Jobs
        under way at exit are cancelled; arq runs them again later, their lines count once."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._serve, list(providers))
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    async def _serve(self, providers: list[str]) -> None:
        delay = _RECONNECT_FIRST_S
        while True:
            try:
                pool = await create_pool(self._settings)
            except (RedisError, OSError) as exc:
                log.warning(
                    "deferred queue: Redis unavailable (%s); retrying in %.0f s", exc, delay
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)
                continue
            delay = _RECONNECT_FIRST_S
            self._pool = pool
            workers = [self._worker(provider, pool) for provider in providers]
            try:
                async with anyio.create_task_group() as group:
                    for worker in workers:
                        group.start_soon(worker.async_run)
            except* (RedisError, OSError) as failures:
                log.warning(
                    "deferred queue: Redis failed (%s); reconnecting", failures.exceptions[0]
                )
            finally:
                self._pool = None
                with anyio.CancelScope(shield=True):
                    for worker in workers:
                        worker.handle_sig(signal.SIGUSR1)  # arq's way to cancel its job tasks
                        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
                    await pool.aclose(close_connection_pool=True)
            await anyio.sleep(delay)

    def _worker(self, provider: str, pool: ArqRedis) -> Worker:
        return Worker(
            functions=[func(self._job, name=JOB_FUNCTION)],
            queue_name=self.queue_name(provider),
            redis_pool=pool,
            handle_signals=False,
            max_jobs=self._lines.concurrency(provider),
            max_tries=self._retry.max_attempts,
            poll_delay=self._poll_s,
            job_timeout=600,
            keep_result=3600,
            log_results=False,
        )

    async def _job(
        self,
        ctx: dict[str, Any],
        batch_id: str,
        tenant: str,
        custom_id: str,
        body: Any,
        protocol: str = "openai",
        attempts: int = 0,
        deferrals: int = 0,
    ) -> str:
        # One try of one line; a retryable failure before the last try is tried again later
        # by arq, a line put off (rate limit, budget) is queued again as a later job.
        job = await self._store.get_job(batch_id)
        if job is None or job.cancel_requested:
            return "batch gone or cancelled"  # the runner ends its lines
        if custom_id in await self._results.results(batch_id):
            return "already answered"
        attempt = attempts + int(ctx.get("job_try", 1))
        line = Line(custom_id, body, protocol)
        outcome = await self._lines.attempt(
            batch_id, tenant, line, attempt=attempt, deferrals=deferrals
        )
        if isinstance(outcome, LineResult):
            await self._results.add_result(batch_id, outcome)
            return outcome.status
        if outcome.attempted:
            raise Retry(defer=outcome.delay_s)
        provider = self._lines.provider_for(line)
        await self._put(
            batch_id,
            tenant,
            provider,
            line,
            attempts=attempt - 1,
            deferrals=deferrals + 1,
            delay_s=outcome.delay_s,
        )
        return f"put off ({outcome.reason}) for {outcome.delay_s:.1f} s"
