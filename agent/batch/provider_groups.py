"""`ProviderGroups`: one batch's lines for one (provider, model) through that provider's own
batch API: submitted once, polled with backoff, answers mapped back to the caller's lines.

Submission is idempotent across restarts: the group is saved ``submitting`` (with its key)
before anything is sent, and a group found ``submitting`` is first looked up at the provider
by that key. Budget: the group's worst case is held at the batch price when it is submitted
and settled to what its answers cost; a group the budget cannot hold fails, or with
``wait_for_budget`` waits until a window has room (or the batch expires).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.anthropic_translate import UntranslatableField
from agent.batch.base import ProviderBatchAPI, ResultStore
from agent.batch.lines import Line, failed, provider_jsonl, provider_results
from agent.batch.provider_wire import URLS, ProviderWire, answer_shapes, provider_body
from agent.batch.wire import (
    TERMINAL_PROVIDER,
    BatchJob,
    LineResult,
    LineStatus,
    ProviderGroup,
)
from agent.core.cache_policy import WireCache
from agent.core.costing import BudgetHook, Reservation
from agent.errors import BudgetExceeded, ProviderError
from agent.openai_wire import usage_from_dict
from metrics.batch_pricing import BatchPrices

log = logging.getLogger("frugal.batch")

SaveJob = Callable[[], Awaitable[None]]
HoldFor = Callable[[str, list[Line]], Awaitable[int]]
"""The worst-case micro-USD of a group's lines on a model, at the batch price."""


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often a provider batch is looked at: ``initial_s`` doubling up to ``max_s``."""

    initial_s: float = 1.0
    max_s: float = 60.0

    def delay(self, polls: int) -> float:
        """The wait before the next look, after ``polls`` looks."""
        return float(min(self.initial_s * 2 ** min(polls, 30), self.max_s))


class _Tenant:
    # What a budget reads of a request: only its tenant.
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant


class ProviderGroups:
    """Drives `ProviderGroup`s of batches through their providers' batch APIs."""

    def __init__(
        self,
        *,
        apis: Mapping[str, ProviderBatchAPI],
        results: ResultStore,
        prices: BatchPrices,
        cache: WireCache,
        budget: BudgetHook | None,
        hold_for: HoldFor,
        poll: PollPolicy,
        wait_for_budget: bool = False,
    ) -> None:
        self._apis = apis
        self._results = results
        self._prices = prices
        self._cache = cache
        self._budget = budget
        self._hold_for = hold_for
        self._poll = poll
        self._wait_for_budget = wait_for_budget
        self._holds: dict[str, Reservation] = {}

    def due(self, group: ProviderGroup) -> bool:
        """True when the group should be submitted or polled now."""
        return time.time() >= group.next_poll_at

    def serves(self, provider: str) -> bool:
        """True when ``provider`` has a batch API here."""
        return provider in self._apis

    async def submit(
        self, job: BatchJob, group: ProviderGroup, lines: dict[str, Line], save: SaveJob
    ) -> None:
        """Send the group once (adopting an earlier submission after a restart)."""
        api = self._apis[group.provider]
        if group.state == "submitting":
            if not api.can_find:
                # It may have reached the provider: failing the lines is better than paying
                # for them twice.
                message = "the gateway stopped while submitting this line's provider batch"
                await self._fail_all(job, group, "batch_submission_unknown", message, 502, save)
                return
            found = await api.find(group.idempotency_key)
            if found is not None:
                await self._submitted(group, found, save)
                return
        if group.state == "pending":
            await self._drop_untranslatable(job, group, lines, api.wire)
            if not group.custom_ids:
                group.state = "done"
                await save()
                return
        members = [lines[custom_id] for custom_id in group.custom_ids]
        if group.state == "pending":
            worst = await self._hold_for(group.model, members)
            try:
                await self._hold(job.tenant, group, worst)
            except BudgetExceeded as exc:
                if self._wait_for_budget:
                    # Try again when the window that refused it has room (or at the longest
                    # poll); the batch's expiry ends the wait.
                    wait = getattr(exc, "retry_after_s", None) or self._poll.max_s
                    group.next_poll_at = time.time() + min(float(wait), self._poll.max_s)
                    await save()
                    return
                await self._fail_all(job, group, "budget_exceeded", str(exc), 429, save)
                return
            group.state, group.reserved_usd_micros = "submitting", worst
            await save()
        try:
            bodies = [
                (
                    line.custom_id,
                    provider_body(line, upstream_model=group.upstream_model, wire=api.wire),
                )
                for line in members
            ]
            provider_id = await api.submit(
                provider_jsonl(bodies, URLS[api.wire]), idempotency_key=group.idempotency_key
            )
        except ProviderError as exc:
            if exc.retryable:
                group.polls += 1
                group.next_poll_at = time.time() + self._poll.delay(group.polls)
                await save()
                raise  # logged by the runner; the group is tried again after the backoff
            status = exc.status if exc.status and 400 <= exc.status < 500 else 502
            await self._fail_all(job, group, exc.code, str(exc), status, save)
            return
        await self._submitted(group, provider_id, save)

    async def _drop_untranslatable(
        self, job: BatchJob, group: ProviderGroup, lines: dict[str, Line], wire: ProviderWire
    ) -> None:
        # A line the provider's protocol cannot express fails alone (400, naming the field),
        # before the group is held or sent; the others go on.
        kept = []
        for custom_id in group.custom_ids:
            try:
                provider_body(lines[custom_id], upstream_model=group.upstream_model, wire=wire)
            except UntranslatableField as exc:
                message = f"{exc} (model {group.model} is served by {group.provider})"
                result = failed(custom_id, "invalid_request", message, status_code=400)
                await self._results.add_result(job.batch.id, result)
            else:
                kept.append(custom_id)
        group.custom_ids = kept

    async def _submitted(self, group: ProviderGroup, provider_id: str, save: SaveJob) -> None:
        group.state, group.provider_batch_id, group.polls = "submitted", provider_id, 0
        group.next_poll_at = time.time() + self._poll.delay(0)
        await save()

    async def poll(
        self, job: BatchJob, group: ProviderGroup, lines: dict[str, Line], save: SaveJob
    ) -> None:
        """Look at the provider batch when due; collect its answers once it has ended."""
        if group.provider_batch_id is None or time.time() < group.next_poll_at:
            return
        api = self._apis[group.provider]
        try:
            remote = await api.retrieve(group.provider_batch_id)
            status = str(remote.get("status"))
            answers: dict[str, tuple[int, dict[str, Any]]] = {}
            if status in TERMINAL_PROVIDER:
                for field in ("output_file_id", "error_file_id"):
                    file_id = remote.get(field)
                    if isinstance(file_id, str):
                        answers |= provider_results(await api.content(file_id))
        except ProviderError as exc:
            if not exc.retryable:  # e.g. the provider no longer knows the batch
                await self._fail_all(job, group, "provider_batch_lost", str(exc), 502, save)
                return
            status = "unreachable"
        group.provider_status = status
        if status not in TERMINAL_PROVIDER:
            group.polls += 1
            group.next_poll_at = time.time() + self._poll.delay(group.polls)
            await save()
            return
        spent = 0
        for index, custom_id in enumerate(group.custom_ids):
            answer = answers.get(f"r{index}" if api.positional else custom_id)
            if answer is None:
                ended: LineStatus = "failed"
                if status in ("cancelled", "expired"):
                    ended = "cancelled" if status == "cancelled" else "expired"
                result = failed(
                    custom_id,
                    f"batch_{ended}",
                    f"the provider batch ended {status} before this line",
                    status=ended,
                    source="provider_batch",
                )
            else:
                result = await self._answered(job, group, lines[custom_id], api.wire, *answer)
            if await self._results.add_result(job.batch.id, result):
                spent += result.cost_usd_micros
        await self._settle(job.tenant, group, spent)
        group.state = "done"
        await save()

    async def cancel(self, group: ProviderGroup) -> None:
        """Ask the provider to stop a submitted group (its answers so far are kept)."""
        if group.provider_batch_id is None or group.provider_status in TERMINAL_PROVIDER:
            return
        try:
            await self._apis[group.provider].cancel(group.provider_batch_id)
        except ProviderError as exc:  # e.g. it ended meanwhile: the next poll tells
            log.info("cancelling provider batch %s: %s", group.provider_batch_id, exc)
        group.next_poll_at = 0.0

    async def _answered(
        self,
        job: BatchJob,
        group: ProviderGroup,
        line: Line,
        wire: ProviderWire,
        status: int,
        body: dict[str, Any],
    ) -> LineResult:
        if status != 200:
            return LineResult(line.custom_id, "failed", "provider_batch", status, body)
        completion, answer = answer_shapes(body, wire=wire, protocol=line.protocol)
        usage = usage_from_dict(completion.get("usage") or {})
        cost = self._prices.cost_usd_micros(group.model, usage) or 0
        interactive = self._prices.interactive_usd_micros(group.model, usage) or 0
        request = line.request(job.tenant)
        choices = completion.get("choices") or []
        finish = tuple(c.get("finish_reason") for c in choices if isinstance(c, dict))
        await self._cache.write(
            self._cache.scope(request),
            dict(completion),
            model=group.model,
            usage=usage,
            cost_usd_micros=cost,
            finish_reasons=finish,
            used_fallback=False,
        )
        return LineResult(
            line.custom_id,
            "completed",
            "provider_batch",
            200,
            dict(answer),
            model=group.model,
            cost_usd_micros=cost,
            interactive_usd_micros=interactive,
        )

    async def _hold(self, tenant: str, group: ProviderGroup, worst: int) -> None:
        if self._budget is None:
            return
        reservation = await self._budget.reserve(
            _Tenant(tenant), worst, hold_id=group.idempotency_key
        )
        self._holds[group.idempotency_key] = reservation

    async def _settle(self, tenant: str, group: ProviderGroup, spent: int) -> None:
        if self._budget is None:
            return
        reservation = self._holds.pop(group.idempotency_key, None)
        if reservation is None:
            # Held by a process that has since stopped: charge what was spent now.
            try:
                reservation = await self._budget.reserve(
                    _Tenant(tenant), spent, hold_id=group.idempotency_key + ":spent"
                )
            except BudgetExceeded:
                log.warning("batch group %s overspent its budget", group.idempotency_key)
                return
        await self._budget.settle(reservation, spent)

    async def _fail_all(
        self,
        job: BatchJob,
        group: ProviderGroup,
        code: str,
        message: str,
        status_code: int,
        save: SaveJob,
    ) -> None:
        for custom_id in group.custom_ids:
            result = failed(custom_id, code, message, status_code=status_code)
            await self._results.add_result(job.batch.id, result)
        if group.reserved_usd_micros:
            await self._settle(job.tenant, group, 0)  # nothing was spent: free the hold
        group.state = "done"
        await save()
