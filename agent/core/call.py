"""`ProviderCall`: the money side of one provider call, shared by every caller of the core.

Hold the worst case before the call (the whole prompt at the input price plus the answer cap
at the output price, on the dearest model the call may end up on; the budget may size the
answer smaller from recent answers, `BudgetHook.output_tokens`), watch what the provider
sends, bill exactly what it reported (or, when a stream ends early, what was produced,
flagged estimated; nothing at all when nothing was produced or reported), and settle the
hold once — however the call ends, cancellation included.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from contextlib import asynccontextmanager

import anyio

from agent.base import LLMClient
from agent.core.clock import StageClock
from agent.core.costing import (
    Bill,
    BudgetHook,
    CallCostModel,
    CostModel,
    NoBudget,
    PerCallCosts,
    Reservation,
    bill,
)
from agent.tokens import count_message_tokens, count_text_tokens
from agent.tracing import NO_SPAN, Span, open_span, span, use
from agent.types import LLMRequest, LLMResponse, StreamChunk, Usage
from metrics.reservation import TenantScoped

# Settling money and closing the provider call must finish even when the caller is gone.
CLEANUP_GRACE_S = 5.0


class Billing:
    """What one call produced and costs; `ProviderCall.hold` makes and settles it."""

    def __init__(
        self,
        costs: CostModel,
        request: LLMRequest,
        reservation: Reservation | None,
        clock: StageClock,
    ) -> None:
        self._costs = costs
        self._request = request
        self.reservation = reservation
        self._clock = clock
        self.requested_model = request.model
        self.model = request.model
        self.usage = Usage()
        self.bill = Bill()
        self.provider_usage: Usage | None = None
        self.produced: list[str] = []
        # A stream continued on another model after it broke is billed per attempt: the
        # attempts that ended (each on its own model) and the one under way.
        self._ended = Bill()
        self._ended_usage = Usage()
        self._segment: list[str] = []
        self.used_fallback = False
        self.fallback_reason: str | None = None
        self.simulated = False
        self.finish_reason: str | None = None
        self.ttft_ms: float | None = None
        self.upstream_ms: float | None = None
        self.called = False  # the provider was asked: from here on it may bill us
        self.charged = False
        self.settled = False
        self.span: Span = NO_SPAN  # the call's ``llm`` span: provider attempts are its children
        self._started = time.perf_counter()

    def observe(self, chunk: StreamChunk) -> None:
        """Take note of one streamed chunk."""
        if chunk.attempt_ended:
            self._end_attempt(chunk.model or self.model)
            return
        self.model = chunk.model or self.model
        self.simulated = chunk.simulated
        self.used_fallback, self.fallback_reason = chunk.used_fallback, chunk.fallback_reason
        self.finish_reason = chunk.finish_reason or self.finish_reason
        if chunk.usage is not None:
            self.provider_usage = chunk.usage
        if chunk.text:
            if not self.produced:
                self.ttft_ms = self._clock.elapsed_ms()
                self._clock.mark("ttft")
            self.produced.append(chunk.text)
            self._segment.append(chunk.text)

    def _end_attempt(self, model: str) -> None:
        usage = self._billable_usage()
        self._ended = self._ended + bill(self._costs, model, usage)
        self._ended_usage = self._ended_usage + usage
        self.provider_usage, self._segment = None, []

    def answered(self, response: LLMResponse) -> None:
        """Take note of a whole answer."""
        self.model, self.provider_usage = response.model, response.usage
        self.simulated, self.finish_reason = response.simulated, response.finish_reason
        self.used_fallback, self.fallback_reason = response.used_fallback, response.fallback_reason
        if response.text:
            self.produced.append(response.text)
            self._segment.append(response.text)
        self.ended()

    def ended(self) -> None:
        """The provider finished: the time it took is known."""
        self.upstream_ms = (time.perf_counter() - self._started) * 1000.0

    def charge(self) -> Bill:
        """Bill the call as it stands (once complete: the provider's usage), every attempt
        that ended before it included."""
        current = self._billable_usage()
        self.usage = self._ended_usage + current if self._ended_usage.total else current
        costs = self._costs
        if self.used_fallback and isinstance(costs, CallCostModel):
            costs = costs.after_fallback()
        self.bill = self._ended + bill(costs, self.model, current)
        self.charged = True
        return self.bill

    def charge_partial(self) -> None:
        """Bill a call that ended early; a call that produced nothing and for which the
        provider reported nothing costs nothing (no phantom charges)."""
        if self.charged or not self.called:
            return
        if self.provider_usage is None and not self._segment and not self._ended_usage.total:
            return
        self.charge()

    @property
    def text(self) -> str:
        """Everything produced so far (choice 0's text)."""
        return "".join(self.produced)

    def _billable_usage(self) -> Usage:
        # The current attempt's usage: the provider's; text that arrived after it
        # (Anthropic's message_start count is provisional) keeps the provider's input buckets
        # and counts the output itself. An attempt that produced nothing and reported nothing
        # costs nothing.
        text = "".join(self._segment)
        if self.provider_usage is None and not text:
            return Usage()
        if self.provider_usage is None:
            request = self._request
            return Usage(
                prompt=count_message_tokens(request.messages, self.model, system=request.system),
                completion=count_text_tokens(text, self.model),
                estimated=True,
            )
        produced = count_text_tokens(text, self.model) if text else 0
        if produced <= self.provider_usage.completion:
            return self.provider_usage
        p = self.provider_usage
        return Usage(p.prompt, p.cached_prompt, p.cache_write, produced, estimated=True)


class ProviderCall:
    """Runs provider calls through the budget: see the module docstring."""

    def __init__(self, *, llm: LLMClient, costs: CostModel, budget: BudgetHook | None) -> None:
        self.llm = llm
        self.costs = costs
        # Priced knowing where each call was sent: a provider's model name may be shared by
        # two registry models at two prices (`agent.registry_prices`). Checked once, here.
        self._per_call = costs if isinstance(costs, PerCallCosts) else None
        self.budget: BudgetHook = budget or NoBudget()

    @asynccontextmanager
    async def hold(
        self,
        owner: TenantScoped,
        request: LLMRequest,
        *,
        models: Collection[str],
        completion_tokens: int,
        clock: StageClock,
        hold_id: str = "",
    ) -> AsyncIterator[Billing]:
        """Reserve the worst case (raises `BudgetExceeded`), yield the `Billing`, and on the
        way out bill what an unfinished call produced and settle the hold (shielded).
        ``hold_id`` names the hold (one per call, e.g. the request id)."""
        # Not current: the caller yields inside the hold (see `agent.tracing`).
        with open_span("llm", {"gen_ai.request.model": request.model}) as traced:
            with use(traced):
                reservation = await self._reserve(
                    owner, request, models, completion_tokens, clock, hold_id
                )
            costs = self._per_call.for_call(request.model) if self._per_call else self.costs
            billing = Billing(costs, request, reservation, clock)
            billing.span = traced
            try:
                yield billing
            finally:
                billing.charge_partial()
                with anyio.move_on_after(CLEANUP_GRACE_S, shield=True):
                    await self.settle(billing)
                _describe(traced, billing)

    async def settle(self, billing: Billing, extra_usd_micros: int = 0) -> None:
        """Replace the hold by what was billed (plus ``extra``, e.g. a history summary)."""
        if billing.settled:
            return
        billing.settled = True
        if billing.charged and billing.upstream_ms is not None:
            # A finished answer sizes the estimated holds of later calls to the model asked
            # for: holds look it up by that name, while the provider may report another
            # (a dated snapshot such as gpt-4o-mini-2024-07-18, a registry upstream_name).
            self.budget.observe_output(billing.requested_model, billing.usage.completion)
        if billing.reservation is not None:
            await self.budget.settle(
                billing.reservation, billing.bill.usd_micros + extra_usd_micros
            )

    async def generate(self, billing: Billing, request: LLMRequest) -> LLMResponse:
        """The whole answer, noted on ``billing``."""
        billing.called = True
        with use(billing.span):
            response = await self.llm.generate(request)
        billing.answered(response)
        return response

    async def stream(
        self, billing: Billing, request: LLMRequest
    ) -> AsyncGenerator[StreamChunk, None]:
        """The provider's chunks, noted on ``billing``; closing this closes the provider call."""
        billing.called = True
        chunks = aiter(self.llm.stream(request))
        try:
            while True:
                with use(billing.span):  # current only while the provider's stream runs
                    chunk = await anext(chunks, None)
                if chunk is None:
                    break
                billing.observe(chunk)
                yield chunk
            billing.ended()
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with use(billing.span), anyio.move_on_after(CLEANUP_GRACE_S, shield=True):
                    await aclose()

    async def _reserve(
        self,
        owner: TenantScoped,
        request: LLMRequest,
        models: Collection[str],
        completion_tokens: int,
        clock: StageClock,
        hold_id: str,
    ) -> Reservation | None:
        if isinstance(self.budget, NoBudget):
            return None  # nothing to hold: skip counting the prompt on the hot path
        with clock.stage("budget"), span("budget"):
            prompt = count_message_tokens(request.messages, request.model, system=request.system)
            prices = (
                self.costs.cost_usd_micros(
                    m,
                    Usage(
                        prompt=prompt, completion=self.budget.output_tokens(m, completion_tokens)
                    ),
                )
                for m in {request.model, *models}
            )
            worst = max((p for p in prices if p is not None), default=0)
            return await self.budget.reserve(owner, worst, hold_id=hold_id)


def _describe(traced: Span, billing: Billing) -> None:
    # What the call came to, in GenAI semantic-convention terms plus Frugal's money.
    traced.set_attribute("gen_ai.response.model", billing.model)
    traced.set_attribute("gen_ai.usage.input_tokens", billing.usage.prompt)
    traced.set_attribute("gen_ai.usage.output_tokens", billing.usage.completion)
    traced.set_attribute("frugal.cost_usd_micros", billing.bill.usd_micros)
    traced.set_attribute("frugal.usage_estimated", billing.usage.estimated)
    traced.set_attribute("frugal.used_fallback", billing.used_fallback)
    if billing.fallback_reason:
        traced.set_attribute("frugal.fallback_reason", billing.fallback_reason)
