"""The batch lane's seams: where batches and their results are kept, and a provider's own
batch API."""

from __future__ import annotations

from typing import Any, Protocol

from agent.batch.lines import Line
from agent.batch.provider_wire import ProviderWire
from agent.batch.wire import BatchJob, BatchStats, LineResult


class BatchStore(Protocol):
    """Batches, their lines' results and the lane's totals; shared by every replica.

    Implementations: `agent.batch.redis_store.RedisBatchStore`,
    `agent.batch.memory_store.MemoryBatchStore`. Raise `cache.errors.CacheError` when the
    backing store fails.
    """

    async def put_job(self, job: BatchJob, *, active: bool) -> None:
        """Save ``job``; ``active`` keeps it on the list the worker advances."""
        ...

    async def get_job(self, batch_id: str) -> BatchJob | None:
        """The job, or None when no batch has that id."""
        ...

    async def list_jobs(self, tenant: str, *, after: str | None, limit: int) -> list[BatchJob]:
        """The tenant's batches, newest first, starting after the id ``after``."""
        ...

    async def active_ids(self) -> list[str]:
        """The ids of batches not yet ended (possibly none)."""
        ...

    async def lease(self, batch_id: str, owner: str, ttl_s: float) -> bool:
        """Take (or renew) the right to advance ``batch_id``; False when another owner has it.

        Held for one step and released after it; ``ttl_s`` frees it if the owner dies."""
        ...

    async def release(self, batch_id: str, owner: str) -> None:
        """Give the lease back if ``owner`` holds it."""
        ...


class ResultStore(Protocol):
    """Each line's one final result, and the lane's totals."""

    async def add_result(self, batch_id: str, result: LineResult) -> bool:
        """Record ``result`` unless the line already has one; True when it was recorded (so
        a line ends in exactly one state, and is counted in the totals once)."""
        ...

    async def results(self, batch_id: str) -> dict[str, LineResult]:
        """Every recorded result of the batch by custom_id (empty when none)."""
        ...

    async def stats(self) -> BatchStats:
        """The lane's totals (zeros when nothing ran)."""
        ...

    async def dead_letter(self, batch_id: str, result: LineResult) -> None:
        """Keep a line that failed for good (newest first, the last 10,000)."""
        ...

    async def dead_letters(self, limit: int) -> list[tuple[str, LineResult]]:
        """The newest ``limit`` dead letters as (batch id, result); empty when none."""
        ...

    async def count_wait(self, reason: str) -> None:
        """Count a deferred line put off for ``reason`` (``retry``, ``rate_limited`` or
        ``budget``) in the totals; a store failure is logged, not raised."""
        ...


class DeferredQueue(Protocol):
    """Where deferred lines wait for a worker (`agent.batch.arq_queue.ArqDeferredQueue`)."""

    async def enqueue(self, batch_id: str, tenant: str, provider: str, line: Line) -> None:
        """Queue ``line``; queueing a line again is a no-op. Raises on a store failure."""
        ...


class ProviderBatchAPI(Protocol):
    """One provider's own batch API (OpenAI's files + batches, Anthropic's message batches).

    Every method raises `agent.errors.ProviderError` (or a subclass) when the provider
    refuses or cannot be reached. ``wire``: the protocol of the bodies it takes and of the
    answers in its output (``openai`` or ``anthropic``). ``positional``: results come back
    under ``r<index>`` (the line's position in the submitted file), not the caller's
    custom_id. ``can_find``: `find` can look an earlier submission up.
    """

    wire: ProviderWire
    positional: bool
    can_find: bool

    async def submit(self, lines: bytes, *, idempotency_key: str) -> str:
        """Upload ``lines`` (JSONL) and start a batch over them; its provider id."""
        ...

    async def find(self, idempotency_key: str) -> str | None:
        """The id of a batch submitted earlier with ``idempotency_key``, or None."""
        ...

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        """The provider's batch object."""
        ...

    async def content(self, file_id: str) -> bytes:
        """A file's bytes (a batch's output or error file)."""
        ...

    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch (it ends ``cancelled`` later)."""
        ...
