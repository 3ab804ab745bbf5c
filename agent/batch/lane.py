"""`BatchLane`: what the ``/v1/files`` and ``/v1/batches`` endpoints ask of the batch lane:
store an upload, accept a batch over it, show, list and cancel batches. The `BatchRunner`
does the work in the background."""

from __future__ import annotations

import secrets
import time

import anyio

from agent.batch.base import BatchStore, ResultStore
from agent.batch.errors import BatchConflict, BatchNotFound, InvalidBatch
from agent.batch.files import LocalFiles
from agent.batch.lines import parse_input
from agent.batch.runner import BatchRunner
from agent.batch.wire import (
    COMPLETION_WINDOWS,
    ENDPOINTS,
    TERMINAL_BATCH,
    BatchJob,
    BatchObject,
    BatchStats,
    FileObject,
    RequestCounts,
)
from cache.errors import StoreUnavailable
from cache.keys import BATCH_LEASE_S

PURPOSES = ("batch",)
_CANCEL_PAUSE_S = 0.05
_CANCEL_TRIES = 200  # 10 s: longer than a runner step normally holds the lease


class BatchLane:
    """The batch lane's front: files in ``files``, batches in ``store``, run by ``runner``."""

    def __init__(
        self, *, store: BatchStore, results: ResultStore, files: LocalFiles, runner: BatchRunner
    ) -> None:
        self._store = store
        self._results = results
        self._files = files
        self.runner = runner

    async def upload(
        self, tenant: str, content: bytes, *, filename: str, purpose: str
    ) -> FileObject:
        """Keep an uploaded file, owned by ``tenant``. Raises `InvalidBatch` for a purpose
        other than ``batch``."""
        if purpose not in PURPOSES:
            raise InvalidBatch(f"purpose must be one of {', '.join(PURPOSES)}")
        return await self._files.add(content, tenant=tenant, filename=filename, purpose=purpose)

    async def file(self, tenant: str, file_id: str) -> FileObject:
        """A file's object. Raises `BatchNotFound` (also for another tenant's)."""
        file = await self._files.get(file_id, tenant=tenant)
        if file is None:
            raise BatchNotFound(f"No such File object: {file_id[:100]}")
        return file

    async def file_content(self, tenant: str, file_id: str) -> bytes:
        """A file's bytes. Raises `BatchNotFound` (also for another tenant's)."""
        content = await self._files.content(file_id, tenant=tenant)
        if content is None:
            raise BatchNotFound(f"No such File object: {file_id[:100]}")
        return content

    async def create(
        self,
        tenant: str,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
    ) -> BatchObject:
        """Accept a batch over an uploaded file; it runs in the background.

        Raises `InvalidBatch` for an unknown endpoint or window or a missing file. An input
        whose lines are malformed gives a batch that is ``failed`` at once, with its errors
        (as OpenAI's does).
        """
        if endpoint not in ENDPOINTS:
            raise InvalidBatch(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        window = COMPLETION_WINDOWS.get(completion_window)
        if window is None:
            raise InvalidBatch(f"completion_window must be one of {', '.join(COMPLETION_WINDOWS)}")
        content = await self._files.content(input_file_id, tenant=tenant)
        if content is None:
            raise InvalidBatch(f"input file {input_file_id[:100]} not found")
        lines, problems = parse_input(content, endpoint)
        now = int(time.time())
        batch = BatchObject(
            id=f"batch_{secrets.token_hex(12)}",
            endpoint=endpoint,
            input_file_id=input_file_id,
            completion_window=completion_window,
            status="in_progress",
            created_at=now,
            in_progress_at=now,
            expires_at=now + window,
            request_counts=RequestCounts(total=len(lines)),
            metadata=metadata,
        )
        if problems:
            batch.status, batch.failed_at, batch.in_progress_at = "failed", now, None
            data = [{"code": "invalid_request", "message": p, "line": None} for p in problems]
            batch.errors = {"object": "list", "data": data}
        job = BatchJob(batch=batch, tenant=tenant)
        await self._store.put_job(job, active=not problems)
        self.runner.wake()
        return batch

    async def get(self, tenant: str, batch_id: str) -> BatchObject:
        """The batch as it stands. Raises `BatchNotFound` (also for another tenant's)."""
        return (await self._job(tenant, batch_id)).batch

    async def list(
        self, tenant: str, *, after: str | None, limit: int
    ) -> tuple[list[BatchObject], bool]:
        """A page of the tenant's batches, newest first, and whether more follow."""
        jobs = await self._store.list_jobs(tenant, after=after, limit=limit + 1)
        return [job.batch for job in jobs[:limit]], len(jobs) > limit

    async def cancel(self, tenant: str, batch_id: str) -> BatchObject:
        """Ask the batch to stop: ``cancelling`` now, ``cancelled`` once its provider
        batches have stopped (answers so far are kept). Raises `BatchConflict` when it
        already ended, `BatchNotFound`."""
        await self._job(tenant, batch_id)  # 404 before waiting for the lease
        # Under the batch's lease, so a runner step cannot save over the request.
        owner = f"cancel-{secrets.token_hex(6)}"
        for _ in range(_CANCEL_TRIES):  # a lease in Redis has no event to wait on
            if await self._store.lease(batch_id, owner, BATCH_LEASE_S):
                break
            await anyio.sleep(_CANCEL_PAUSE_S)
        else:
            raise StoreUnavailable("the batch is busy; try the cancel again")
        try:
            job = await self._job(tenant, batch_id)
            if job.batch.status in TERMINAL_BATCH:
                raise BatchConflict(f"cannot cancel a batch that is {job.batch.status}")
            if not job.cancel_requested:
                job.cancel_requested = True
                job.batch.status, job.batch.cancelling_at = "cancelling", int(time.time())
                await self._store.put_job(job, active=True)
        finally:
            await self._store.release(batch_id, owner)
        self.runner.wake()
        return job.batch

    async def stats(self) -> BatchStats:
        """The lane's totals: lines by source, cost, and what they saved."""
        return await self._results.stats()

    async def _job(self, tenant: str, batch_id: str) -> BatchJob:
        job = await self._store.get_job(batch_id)
        if job is None or job.tenant != tenant:
            raise BatchNotFound(f"No such Batch object: {batch_id[:100]}")
        return job
