"""`LinePlanner`: where each line of a new batch goes: answered from the exact or semantic
cache at once (cost 0), into a provider batch group per (provider, model), or onto the
deferred queue (providers without a batch API, and ``auto`` lines the router decides)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import anyio

from agent.batch.base import ResultStore
from agent.batch.lines import Line, failed
from agent.batch.provider_groups import ProviderGroups
from agent.batch.provider_wire import caller_answer
from agent.batch.wire import BatchJob, LineResult, ProviderGroup
from agent.core.cache_policy import WireCache
from agent.core.request import CompletionRequest, InvalidParam
from agent.errors import InvalidModelName, ModelNotFound

Route = Callable[[str], "tuple[str, str, str] | None"]
"""A model name → (provider, declared model, the provider's name for it); None for a name
the router resolves (``auto``). Raises `ModelNotFound` / `InvalidModelName`."""

_LOOKUP_CONCURRENCY = 16


class LinePlanner:
    """Sorts a batch's lines once, recording cache hits and refused lines as results."""

    def __init__(
        self, *, cache: WireCache, results: ResultStore, groups: ProviderGroups, route: Route
    ) -> None:
        self._cache = cache
        self._results = results
        self._groups = groups
        self._route = route

    async def plan(self, job: BatchJob, lines: list[Line]) -> None:
        """Fill ``job.groups`` and ``job.deferred``; record hits and refusals."""
        by_group: dict[tuple[str, str, str], list[str]] = {}
        deferred: list[str] = []
        limiter = anyio.CapacityLimiter(_LOOKUP_CONCURRENCY)

        async def sort(line: Line) -> None:
            async with limiter:
                target = await self._sort(job, line)
            if isinstance(target, tuple):
                by_group.setdefault(target, []).append(line.custom_id)
            elif target == "deferred":
                deferred.append(line.custom_id)

        async with anyio.create_task_group() as group:
            for line in lines:
                group.start_soon(sort, line)
        order = {line.custom_id: index for index, line in enumerate(lines)}
        job.deferred = sorted(deferred, key=order.__getitem__)
        job.groups = [
            ProviderGroup(
                provider=provider,
                model=model,
                upstream_model=upstream,
                custom_ids=sorted(ids, key=order.__getitem__),
                idempotency_key=f"{job.batch.id}-{index}",
            )
            for index, ((provider, model, upstream), ids) in enumerate(sorted(by_group.items()))
        ]
        job.planned = True

    async def _sort(self, job: BatchJob, line: Line) -> tuple[str, str, str] | str | None:
        # A group key, "deferred", or None when the line already has its result.
        try:
            request = line.request(job.tenant)
            target = self._route(request.model)
        except InvalidParam as exc:
            refusal = failed(line.custom_id, "invalid_request", str(exc), status_code=400)
        except (ModelNotFound, InvalidModelName) as exc:
            refusal = failed(line.custom_id, "model_not_found", str(exc), status_code=404)
        else:
            if not request.stream:
                return await self._lookup(job, line, request, target)
            refusal = failed(
                line.custom_id, "invalid_request", "batch lines cannot stream", status_code=400
            )
        await self._results.add_result(job.batch.id, refusal)
        return None

    async def _lookup(
        self,
        job: BatchJob,
        line: Line,
        request: CompletionRequest,
        target: tuple[str, str, str] | None,
    ) -> tuple[str, str, str] | str | None:
        hit, _, _ = await self._cache.read(self._cache.scope(request))
        if hit is not None:
            completion = {
                **hit.completion,
                "id": f"chatcmpl-{secrets.token_hex(16)}",
                "created": int(time.time()),
            }
            body = caller_answer(completion, line.protocol)
            answer = LineResult(
                line.custom_id,
                "completed",
                "cache",
                200,
                body,
                model=hit.model,
                interactive_usd_micros=hit.saved_usd_micros,
            )
            await self._results.add_result(job.batch.id, answer)
            return None
        if target is None or not self._groups.serves(target[0]):
            return "deferred"
        return target
