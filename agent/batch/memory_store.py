"""`MemoryBatchStore`: the batch store of one process without Redis (and of tests): the same
behaviour as `RedisBatchStore`, lost on restart."""

from __future__ import annotations

import time

import msgspec

from agent.batch.redis_store import DEAD_LETTERS_KEPT, WAIT_FIELDS, stat_increments
from agent.batch.wire import BatchJob, BatchStats, LineResult


class MemoryBatchStore:
    """A `BatchStore` and `ResultStore` in process memory."""

    def __init__(self) -> None:
        self._jobs: dict[str, BatchJob] = {}
        self._active: set[str] = set()
        self._results: dict[str, dict[str, LineResult]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._stats = BatchStats()
        self._dead: list[tuple[str, LineResult]] = []

    async def put_job(self, job: BatchJob, *, active: bool) -> None:
        """Save a copy of ``job``; ``active`` keeps it on the list the worker advances."""
        self._jobs[job.batch.id] = msgspec.json.decode(msgspec.json.encode(job), type=BatchJob)
        if active:
            self._active.add(job.batch.id)
        else:
            self._active.discard(job.batch.id)

    async def get_job(self, batch_id: str) -> BatchJob | None:
        """A copy of the job, or None when no batch has that id."""
        job = self._jobs.get(batch_id)
        return None if job is None else msgspec.json.decode(msgspec.json.encode(job), type=BatchJob)

    async def list_jobs(self, tenant: str, *, after: str | None, limit: int) -> list[BatchJob]:
        """The tenant's batches, newest first, starting after the id ``after``."""
        ids = [i for i, job in reversed(self._jobs.items()) if job.tenant == tenant]
        if after is not None:
            ids = ids[ids.index(after) + 1 :] if after in ids else []
        return [job for i in ids[:limit] if (job := await self.get_job(i)) is not None]

    async def active_ids(self) -> list[str]:
        """The ids of batches not yet ended (possibly none)."""
        return sorted(self._active)

    async def lease(self, batch_id: str, owner: str, ttl_s: float) -> bool:
        """Take (or renew) the right to advance ``batch_id``; False when another owner has it."""
        now = time.monotonic()
        holder = self._leases.get(batch_id)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._leases[batch_id] = (owner, now + ttl_s)
        return True

    async def release(self, batch_id: str, owner: str) -> None:
        """Give the lease back if ``owner`` holds it."""
        holder = self._leases.get(batch_id)
        if holder is not None and holder[0] == owner:
            del self._leases[batch_id]

    async def add_result(self, batch_id: str, result: LineResult) -> bool:
        """Record ``result`` unless the line already has one; True when it was recorded."""
        lines = self._results.setdefault(batch_id, {})
        if result.custom_id in lines:
            return False
        lines[result.custom_id] = result
        for name, amount in stat_increments(result).items():
            setattr(self._stats, name, getattr(self._stats, name) + amount)
        return True

    async def results(self, batch_id: str) -> dict[str, LineResult]:
        """Every recorded result of the batch by custom_id (empty when none)."""
        return dict(self._results.get(batch_id, {}))

    async def dead_letter(self, batch_id: str, result: LineResult) -> None:
        """Keep a line that failed for good (newest first, the last ``DEAD_LETTERS_KEPT``)."""
        self._dead.insert(0, (batch_id, result))
        del self._dead[DEAD_LETTERS_KEPT:]

    async def dead_letters(self, limit: int) -> list[tuple[str, LineResult]]:
        """The newest ``limit`` dead letters as (batch id, result); empty when none."""
        return self._dead[:limit]

    async def count_wait(self, reason: str) -> None:
        """Count a deferred line put off for ``reason``."""
        field = WAIT_FIELDS[reason]
        setattr(self._stats, field, getattr(self._stats, field) + 1)

    async def stats(self) -> BatchStats:
        """The lane's totals (zeros when nothing ran)."""
        return msgspec.structs.replace(self._stats)
