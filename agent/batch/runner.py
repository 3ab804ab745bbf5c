"""`BatchRunner`: advances every running batch one step at a time, from the state in the
store, so any process (this one after a restart, or another replica) can pick a batch up.

A step, under the batch's lease: plan a new batch (cache hits, provider groups, deferred
lines); submit and poll its provider groups; answer a slice of its deferred lines; and once
every line has its one result, write the output and error files and end the batch
``completed`` (or ``cancelled`` / ``expired``, the lines without a result ending so too).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable

import anyio

from agent.batch.base import BatchStore, DeferredQueue, ResultStore
from agent.batch.deferred import DeferredLines
from agent.batch.files import LocalFiles
from agent.batch.lines import Line, failed, parse_input, render
from agent.batch.planning import LinePlanner
from agent.batch.provider_groups import ProviderGroups
from agent.batch.wire import TERMINAL_BATCH, BatchJob, LineResult, LineStatus, RequestCounts
from agent.errors import AgentError
from cache.errors import CacheError
from cache.keys import BATCH_LEASE_S

log = logging.getLogger("frugal.batch")

OnFinished = Callable[[BatchJob], Awaitable[None]]
_DEFERRED_PER_STEP = 64
_BATCHES_AT_ONCE = 8


class BatchRunner:
    """Advances batches kept in ``store``; ``owner`` names this process for leases."""

    def __init__(
        self,
        *,
        store: BatchStore,
        results: ResultStore,
        files: LocalFiles,
        planner: LinePlanner,
        groups: ProviderGroups,
        deferred: DeferredLines,
        queue: DeferredQueue | None = None,
        on_finished: OnFinished | None = None,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._results = results
        self._files = files
        self._planner = planner
        self._groups = groups
        self._deferred = deferred
        self._queue = queue
        self._on_finished = on_finished
        self.owner = owner or secrets.token_hex(8)
        self._wake = anyio.Event()
        self._inputs: dict[str, list[Line]] = {}

    def wake(self) -> None:
        """Start the next round now (a batch was created or cancelled)."""
        self._wake.set()

    async def run(self, *, interval_s: float) -> None:
        """Advance every active batch each ``interval_s`` (or on `wake`), until cancelled."""
        limiter = anyio.CapacityLimiter(_BATCHES_AT_ONCE)
        while True:
            self._wake = anyio.Event()
            try:
                ids = await self._store.active_ids()
            except CacheError as exc:
                log.warning("batch store unavailable: %s", exc)
                ids = []
            async with anyio.create_task_group() as group:
                for batch_id in ids:
                    group.start_soon(self._guarded_step, batch_id, limiter)
            with anyio.move_on_after(interval_s):
                await self._wake.wait()

    async def _guarded_step(self, batch_id: str, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            try:
                if not await self._store.lease(batch_id, self.owner, BATCH_LEASE_S):
                    return  # another process is advancing it
                try:
                    await self.step(batch_id)
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                        await self._store.release(batch_id, self.owner)
            except (AgentError, CacheError, OSError) as exc:
                # The provider or a store failed this step: the next round tries again.
                log.warning("batch %s: step failed: %s", batch_id, exc)
            except Exception:  # the loop must outlive one broken batch
                log.exception("batch %s: unexpected failure", batch_id)

    async def step(self, batch_id: str) -> None:
        """Move ``batch_id`` forward as far as it can go now."""
        job = await self._store.get_job(batch_id)
        if job is None or job.batch.status in TERMINAL_BATCH:
            return

        async def save() -> None:
            await self._store.put_job(job, active=True)

        lines = await self._lines(job)
        by_id = {line.custom_id: line for line in lines}
        if not job.planned:
            await self._planner.plan(job, lines)
            await save()
        ending = self._ending(job)
        if ending is not None:
            await self._wind_down(job, ending, by_id, save)
        else:
            for group in job.groups:
                if group.state in ("pending", "submitting") and self._groups.due(group):
                    await self._groups.submit(job, group, by_id, save)
                elif group.state == "submitted":
                    await self._groups.poll(job, group, by_id, save)
            if self._queue is None:
                await self._answer_deferred(job, by_id)
            elif not job.deferred_queued:
                await self._enqueue_deferred(job, by_id, save)
        results = await self._results.results(job.batch.id)
        if all(line.custom_id in results for line in lines):
            await self._finish(job, lines, results)

    async def _lines(self, job: BatchJob) -> list[Line]:
        # Parsed once per process (off the event loop), dropped when the batch ends.
        lines = self._inputs.get(job.batch.id)
        if lines is None:
            content = await self._files.content(job.batch.input_file_id, tenant=job.tenant)
            content = content or b""
            parsed = await anyio.to_thread.run_sync(parse_input, content, job.batch.endpoint)
            lines = self._inputs[job.batch.id] = parsed[0]
        return lines

    def _ending(self, job: BatchJob) -> LineStatus | None:
        if job.cancel_requested:
            return "cancelled"
        if job.batch.expires_at is not None and time.time() >= job.batch.expires_at:
            return "expired"
        return None

    async def _wind_down(
        self,
        job: BatchJob,
        ending: LineStatus,
        by_id: dict[str, Line],
        save: Callable[[], Awaitable[None]],
    ) -> None:
        # Stop the provider batches, keep what they answered, end every other line so.
        for group in job.groups:
            if group.state == "submitted":
                await self._groups.cancel(group)
                await self._groups.poll(job, group, by_id, save)
        if any(group.state == "submitted" for group in job.groups):
            return  # the provider has not stopped yet
        done = await self._results.results(job.batch.id)
        for custom_id in by_id:
            if custom_id not in done:
                result = failed(
                    custom_id, f"batch_{ending}", f"the batch was {ending}", status=ending
                )
                await self._results.add_result(job.batch.id, result)

    async def _enqueue_deferred(
        self, job: BatchJob, lines: dict[str, Line], save: Callable[[], Awaitable[None]]
    ) -> None:
        # Idempotent: a crash before the flag is saved queues the lines again, harmlessly.
        assert self._queue is not None
        for custom_id in job.deferred:
            line = lines[custom_id]
            provider = self._deferred.provider_for(line)
            await self._queue.enqueue(job.batch.id, job.tenant, provider, line)
        job.deferred_queued = True
        await save()

    async def _answer_deferred(self, job: BatchJob, lines: dict[str, Line]) -> None:
        done = await self._results.results(job.batch.id)
        todo = [
            cid for cid in job.deferred if cid not in done and self._deferred.due(job.batch.id, cid)
        ][:_DEFERRED_PER_STEP]

        async def one(custom_id: str) -> None:
            result = await self._deferred.answer_due(job.batch.id, job.tenant, lines[custom_id])
            if result is not None:  # else put off: a later step tries it again
                await self._results.add_result(job.batch.id, result)

        async with anyio.create_task_group() as group:
            for custom_id in todo:
                group.start_soon(one, custom_id)

    async def _finish(
        self, job: BatchJob, lines: list[Line], results: dict[str, LineResult]
    ) -> None:
        batch = job.batch
        output, errors = render(lines, results)
        if output:
            name = f"{batch.id}_output.jsonl"
            batch.output_file_id = (
                await self._files.add(
                    output, tenant=job.tenant, filename=name, purpose="batch_output"
                )
            ).id
        if errors:
            name = f"{batch.id}_error.jsonl"
            batch.error_file_id = (
                await self._files.add(
                    errors, tenant=job.tenant, filename=name, purpose="batch_output"
                )
            ).id
        states = [results[line.custom_id].status for line in lines]
        batch.request_counts = RequestCounts(
            total=len(lines), completed=states.count("completed"), failed=states.count("failed")
        )
        now = int(time.time())
        batch.finalizing_at = now
        ending = self._ending(job)
        if ending == "cancelled":
            batch.status, batch.cancelled_at = "cancelled", now
        elif ending == "expired":
            batch.status, batch.expired_at = "expired", now
        else:
            batch.status, batch.completed_at = "completed", now
        await self._store.put_job(job, active=False)
        self._inputs.pop(batch.id, None)
        self._deferred.forget(batch.id)
        log.info("batch %s %s: %s", batch.id, batch.status, batch.request_counts)
        if self._on_finished is not None:
            await self._on_finished(job)
