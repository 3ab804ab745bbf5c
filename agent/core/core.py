"""`CompletionCore.run`: one chat completion end to end, as a sequence of events.

The stages hand the request forward, each once: cache read → route → budget hold →
provider call (through the fallback client) → accounting → cache write. Whatever ends the
call (done, provider failure, the consumer closing the stream, cancellation), the tokens
produced are billed once, the hold is settled, and `RunOutcome` says what happened.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from agent.base import LLMClient
from agent.core.assemble import (
    CompletionAssembler,
    chunk_from_text,
    completion_from_text,
    replay_chunks,
)
from agent.core.cache_policy import WireCache
from agent.core.clock import StageClock
from agent.core.costing import (
    BudgetHook,
    CostModel,
    NoBudget,
    Reservation,
    bill,
    routing_savings,
)
from agent.core.events import CoreEvent, Head, Piece, Tail
from agent.core.request import CompletionRequest
from agent.openai_wire import usage_from_dict
from agent.tokens import count_message_tokens, count_text_tokens
from agent.types import LLMRequest, StreamChunk, Usage
from router.base import Router

_log = logging.getLogger(__name__)

AUTO_MODELS = frozenset({"auto"})
# Settling money and closing the provider call must finish even when the caller is gone.
_CLEANUP_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class CorePolicy:
    """The models the core knows by role, and the hold for requests without a token cap.

    ``fallback_models`` are the models a request may end up on after a fallback: the budget
    hold is sized for the dearest of them and the requested one.
    """

    cheap_model: str
    strong_model: str
    fallback_models: tuple[str, ...] = ()
    default_max_tokens: int = 4096
    auto_models: frozenset[str] = AUTO_MODELS
    fallbacks_for: Callable[[str], tuple[str, ...]] | None = None
    """The model's own fallback chain (the registry's); None: ``fallback_models`` for all."""
    canonical: Callable[[str], str] | None = None
    """The declared name behind an alias (the registry's); None: names are used as given."""

    def reachable(self, model: str) -> set[str]:
        """Every model a request for ``model`` may be answered by."""
        chain = self.fallbacks_for(model) if self.fallbacks_for else self.fallback_models
        return {model, *chain}


@dataclass(slots=True)
class RunOutcome:
    """Filled in however a run ends, for the caller's accounting: ``status`` is
    ``completed``, ``failed`` or ``cancelled``; usage and cost are what was billed."""

    status: str = "pending"
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd_micros: int = 0
    cost_known: bool = True
    error_code: str | None = None
    ttft_ms: float | None = None
    upstream_ms: float | None = None
    accounted: bool = False  # set by the caller once it recorded the run


class CompletionCore:
    """Runs wire requests through caches, routing, the provider and accounting."""

    def __init__(
        self,
        *,
        llm: LLMClient,
        router: Router,
        costs: CostModel,
        cache: WireCache,
        policy: CorePolicy,
        budget: BudgetHook | None = None,
    ) -> None:
        self._llm = llm
        self._router = router
        self._costs = costs
        self._cache = cache
        self._policy = policy
        self._budget: BudgetHook = budget or NoBudget()

    async def run(
        self, request: CompletionRequest, outcome: RunOutcome
    ) -> AsyncGenerator[CoreEvent, None]:
        """Yield `Head`, then (for streams) `Piece`s, then `Tail`.

        Raises `InvalidRequest`, `BudgetExceeded` or a `ProviderError` before `Head` (nothing
        sent yet), or a `ProviderError` after it (the stream broke). Consume it inside
        ``contextlib.aclosing``: closing it early closes the provider call and bills what was
        produced.
        """
        request_id = secrets.token_hex(16)
        clock = StageClock()
        created = int(time.time())
        completion_id = f"chatcmpl-{request_id}"
        with clock.stage("cache"):
            scope = self._cache.scope(request)
            hit, exact, semantic = await self._cache.read(scope)
        if hit is not None:
            yield Head(
                request_id, hit.model, "cache", f"{hit.layer} cache hit", hit.layer, exact, semantic
            )
            completion = {**hit.completion, "id": completion_id, "created": created}
            if request.stream:
                for chunk in replay_chunks(completion, include_usage=request.include_usage):
                    yield Piece(chunk)
            outcome.status, outcome.model = "completed", hit.model
            yield Tail(
                completion=completion,
                model=hit.model,
                usage=Usage(),
                cost_usd_micros=0,
                cost_known=True,
                saved_usd_micros=hit.saved_usd_micros,
                used_fallback=False,
                fallback_reason=None,
                finish_reasons=_finish_reasons(completion),
                simulated=False,
                cache_write="skipped:hit",
                latency_ms=clock.snapshot(),
            )
            return
        with clock.stage("route"):
            model, tier, reason = await self._route(request)
        llm_request = LLMRequest(
            model=model,
            messages=request.messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature or 0.0,
            user=request.user_id,
            body=request.body,
            raw=request.raw,
        )
        reservation = await self._reserve(request, llm_request, clock)
        call = _Call(self, request, llm_request, outcome, reservation, clock)
        try:
            yield Head(request_id, model, tier, reason, None, exact, semantic)
            if request.stream:
                async with _closing(self._llm.stream(llm_request)) as chunks:
                    async for piece in call.relay(chunks, completion_id, created):
                        yield piece
                completion = call.assembled(completion_id, created)
            else:
                with clock.stage("llm"):
                    response = await self._llm.generate(llm_request)
                call.answered(response.model, response.usage, response.used_fallback)
                call.fallback_reason, call.simulated = response.fallback_reason, response.simulated
                completion = response.completion or completion_from_text(
                    response.text,
                    model=response.model,
                    finish_reason=response.finish_reason,
                    usage=_usage_dict(response.usage),
                    completion_id=completion_id,
                    created=created,
                )
            cost, known = call.charge()
            saved = self._savings(request, tier, call)
            with clock.stage("write"):
                written = await self._cache.write(
                    scope,
                    completion,
                    model=call.model,
                    usage=call.usage,
                    cost_usd_micros=cost,
                    finish_reasons=_finish_reasons(completion),
                    used_fallback=call.used_fallback,
                )
            await call.settle()
            outcome.status = "completed"
            yield Tail(
                completion=completion,
                model=call.model,
                usage=call.usage,
                cost_usd_micros=cost,
                cost_known=known,
                saved_usd_micros=saved,
                used_fallback=call.used_fallback,
                fallback_reason=call.fallback_reason,
                finish_reasons=_finish_reasons(completion),
                simulated=call.simulated,
                cache_write=written,
                latency_ms=clock.snapshot(),
            )
        except BaseException as exc:
            if outcome.status != "completed":
                call.bill_partial()
                cancelled = isinstance(exc, GeneratorExit | anyio.get_cancelled_exc_class())
                outcome.status = "cancelled" if cancelled else "failed"
                outcome.error_code = getattr(exc, "code", None) if not cancelled else None
            raise
        finally:
            with anyio.move_on_after(_CLEANUP_GRACE_S, shield=True):
                await call.settle()

    async def _route(self, request: CompletionRequest) -> tuple[str, str, str]:
        p = self._policy
        if request.model not in p.auto_models:
            model = p.canonical(request.model) if p.canonical else request.model
            tier = {p.cheap_model: "cheap", p.strong_model: "strong"}.get(model)
            return model, tier or "explicit", "explicit model"
        decision = await self._router.route(request.messages, earlier_turns=0)
        return decision.model, decision.tier, decision.reason

    async def _reserve(
        self, request: CompletionRequest, llm_request: LLMRequest, clock: StageClock
    ) -> Reservation | None:
        if isinstance(self._budget, NoBudget):
            return None  # nothing to hold: skip counting the prompt on the hot path
        with clock.stage("budget"):
            prompt = count_message_tokens(llm_request.messages, llm_request.model)
            completion = request.max_tokens or self._policy.default_max_tokens
            worst_usage = Usage(prompt=prompt, completion=completion * request.n)
            models = self._policy.reachable(llm_request.model)
            if request.model in self._policy.auto_models:
                models.add(self._policy.strong_model)  # the router may pick either tier
            prices = (self._costs.cost_usd_micros(m, worst_usage) for m in models)
            worst = max((p for p in prices if p is not None), default=0)
            return await self._budget.reserve(request, worst)

    def _savings(self, request: CompletionRequest, tier: str, call: _Call) -> int:
        if request.model not in self._policy.auto_models or tier != "cheap":
            return 0
        return routing_savings(self._costs, self._policy.strong_model, call.bill, call.usage)


class _Call:
    """The provider call of one run: what it produced and what it costs."""

    def __init__(
        self,
        core: CompletionCore,
        request: CompletionRequest,
        llm_request: LLMRequest,
        outcome: RunOutcome,
        reservation: Reservation | None,
        clock: StageClock,
    ) -> None:
        self._core = core
        self._request = request
        self._llm_request = llm_request
        self._outcome = outcome
        self._reservation = reservation
        self._clock = clock
        self.model = llm_request.model
        self.usage = Usage()
        self.provider_usage: Usage | None = None
        self.used_fallback = False
        self.fallback_reason: str | None = None
        self.simulated = False
        self.produced: list[str] = []
        self.bill = bill(core._costs, self.model, Usage())
        self._assembler = CompletionAssembler()
        self._started = time.perf_counter()
        self._settled = False
        self._charged = False

    async def relay(
        self, chunks: AsyncIterator[StreamChunk], completion_id: str, created: int
    ) -> AsyncIterator[Piece]:
        include_usage = self._request.include_usage
        async for chunk in chunks:
            self.model = chunk.model or self.model
            self.simulated = chunk.simulated
            self.used_fallback, self.fallback_reason = chunk.used_fallback, chunk.fallback_reason
            if chunk.usage is not None:
                self.provider_usage = chunk.usage
            if chunk.text:
                if not self.produced:
                    self._outcome.ttft_ms = self._clock.elapsed_ms()
                self.produced.append(chunk.text)
            payload = chunk.payload
            if payload is None:
                if not (chunk.text or chunk.finish_reason):
                    continue  # a client-made usage summary: nothing to relay
                payload = chunk_from_text(
                    chunk.text,
                    model=self.model,
                    finish_reason=chunk.finish_reason,
                    completion_id=completion_id,
                    created=created,
                )
            self._assembler.add(payload)
            usage_only = not payload.get("choices") and payload.get("usage") is not None
            if usage_only and not include_usage:
                continue  # asked for on the caller's behalf, to bill exactly
            yield Piece(payload, chunk.raw)
        self._outcome.upstream_ms = (time.perf_counter() - self._started) * 1000.0
        self.answered(self.model, self._stream_usage(), self.used_fallback)

    def assembled(self, completion_id: str, created: int) -> dict[str, Any]:
        completion = self._assembler.completion(
            default_model=self.model, completion_id=completion_id, created=created
        )
        completion.setdefault("usage", _usage_dict(self.usage))
        return completion

    def answered(self, model: str, usage: Usage, used_fallback: bool) -> None:
        self.model, self.usage, self.used_fallback = model, usage, used_fallback

    def charge(self) -> tuple[int, bool]:
        self.bill = bill(self._core._costs, self.model, self.usage)
        self._charged = True
        o = self._outcome
        o.model, o.usage = self.model, self.usage
        o.cost_usd_micros, o.cost_known = self.bill.usd_micros, self.bill.known
        return self.bill.usd_micros, self.bill.known

    def bill_partial(self) -> None:
        """Bill a call that ended early: the provider's usage if it sent one, else what was
        produced (estimated); a call that produced nothing and reported nothing costs 0."""
        if self._charged:
            return
        if self.provider_usage is None and not self.produced:
            self._outcome.model = self.model
            return
        self.usage = self._stream_usage()
        self.charge()

    def _stream_usage(self) -> Usage:
        text = "".join(self.produced)
        if self.provider_usage is not None:
            produced = count_text_tokens(text, self.model) if text else 0
            if produced <= self.provider_usage.completion:
                return self.provider_usage
            return Usage(
                prompt=self.provider_usage.prompt,
                cached_prompt=self.provider_usage.cached_prompt,
                cache_write=self.provider_usage.cache_write,
                completion=produced,
                estimated=True,
            )
        return Usage(
            prompt=count_message_tokens(self._llm_request.messages, self.model),
            completion=count_text_tokens(text, self.model),
            estimated=True,
        )

    async def settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        if self._reservation is not None:
            await self._core._budget.settle(self._reservation, self.bill.usd_micros)


def _finish_reasons(completion: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(c.get("finish_reason") for c in completion.get("choices") or ())


def _usage_dict(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.total,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt},
    }


class _closing:
    """Close a provider stream however the block ends (shielded: we may be cancelled)."""

    def __init__(self, chunks: AsyncIterator[StreamChunk]) -> None:
        self._chunks = chunks

    async def __aenter__(self) -> AsyncIterator[StreamChunk]:
        return self._chunks

    async def __aexit__(self, *exc: object) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            with anyio.move_on_after(_CLEANUP_GRACE_S, shield=True):
                await aclose()


__all__ = ["CompletionCore", "CorePolicy", "RunOutcome", "usage_from_dict"]
