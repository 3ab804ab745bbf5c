"""`CompletionCore.run`: one chat completion end to end, as a sequence of events.

The stages hand the request forward, each once: cache read → route → budget hold →
provider call (through the fallback client) → accounting → cache write. Whatever ends the
call (done, provider failure, the consumer closing the stream, cancellation), the tokens
produced are billed once, the hold is settled, and `RunOutcome` says what happened.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
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
from agent.core.call import Billing, ProviderCall
from agent.core.clock import StageClock
from agent.core.costing import (
    BudgetHook,
    CostModel,
    routing_savings,
)
from agent.core.events import CoreEvent, Flush, Head, Piece, Tail
from agent.core.guarding import guard_request, guarded_events
from agent.core.request import CompletionRequest
from agent.guard import Guard, GuardSession, guard_chunks, guard_response
from agent.tracing import span
from agent.types import LLMRequest, StreamChunk, Usage
from router.base import Router

_log = logging.getLogger(__name__)

AUTO_MODELS = frozenset({"auto"})


@dataclass(frozen=True, slots=True)
class CorePolicy:
    """The models the core knows by role, and the hold for requests without a token cap.

    ``fallback_models`` are the models a request may end up on after a fallback: the budget
    hold is sized for the dearest of them and the requested one.
    """

    cheap_model: str
    strong_model: str
    fallback_models: tuple[str, ...] = ()
    default_max_tokens: int = 16_384
    """The answer cap a budget hold assumes when neither the request nor the registry gives
    one: the request reaches the provider without a cap (transparency), so the hold must
    cover what the provider may write."""
    max_output_for: Callable[[str], int | None] | None = None
    """A model's own answer cap (the registry's ``max_output_tokens``), for the hold."""
    auto_models: frozenset[str] = AUTO_MODELS
    fallbacks_for: Callable[[str], tuple[str, ...]] | None = None
    """The model's own fallback chain (the registry's); None: ``fallback_models`` for all."""
    canonical: Callable[[str], str] | None = None
    """The declared name behind an alias (the registry's); None: names are used as given."""

    def output_cap(self, models: set[str]) -> int:
        """The most any of ``models`` may write when the request sets no cap."""
        caps = [self.max_output_for(m) for m in models] if self.max_output_for else []
        known = [cap for cap in caps if cap is not None]
        if len(known) == len(models) and known:
            return max(known)
        return max([self.default_max_tokens, *known])

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
        guard: Guard | None = None,
    ) -> None:
        self._call = ProviderCall(llm=llm, costs=costs, budget=budget)
        self._guard = guard
        self._router = router
        self._costs = costs
        self._cache = cache
        self._policy = policy

    @property
    def call(self) -> ProviderCall:
        """The provider-call stage, for callers that assemble their own prompt (the Agent)."""
        return self._call

    def run(
        self, request: CompletionRequest, outcome: RunOutcome
    ) -> AsyncGenerator[CoreEvent, None]:
        """Yield `Head`, then (for streams) `Piece`s, then `Tail`.

        Raises `InvalidRequest` (`PromptInjectionBlocked` among them), `BudgetExceeded` or a
        `ProviderError` before `Head` (nothing sent yet), or a `ProviderError` after it (the
        stream broke). Consume it inside ``contextlib.aclosing``: closing it early closes the
        provider call and bills what was produced.
        """
        session = self._guard.session() if self._guard is not None else None
        if session is None:
            return self._run(request, outcome, None)
        return guarded_events(session, self._run(request, outcome, session))

    async def _run(
        self, request: CompletionRequest, outcome: RunOutcome, session: GuardSession | None
    ) -> AsyncGenerator[CoreEvent, None]:
        request_id = secrets.token_hex(16)
        if session is not None:  # before the caches: they key on and store redacted text
            session.request_id = request_id
            request = guard_request(session, request)
        clock = StageClock()
        created = int(time.time())
        completion_id = f"chatcmpl-{request_id}"
        with clock.stage("cache"):
            scope = self._cache.scope(request)
            hit, exact, semantic = await self._cache.read(scope)
        if hit is not None:
            yield Head(
                request_id,
                hit.model,
                "cache",
                f"{hit.layer} cache hit",
                hit.layer,
                exact,
                semantic,
                score=hit.score,
                matched=hit.question,
            )
            completion = {**hit.completion, "id": completion_id, "created": created}
            if request.stream:
                replayed = replay_chunks(completion, include_usage=request.include_usage)
                for index, chunk in enumerate(replayed, start=1):
                    yield Piece(chunk, more=index < len(replayed))
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
        with clock.stage("route"), span("route") as traced:
            model, tier, reason = await self._route(request)
            traced.set_attribute("frugal.route.tier", tier)
            traced.set_attribute("frugal.route.model", model)
        llm_request = LLMRequest(
            model=model,
            messages=request.messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature or 0.0,
            user=request.user_id,
            body=request.body,
            raw=request.raw,
            protocol=request.protocol,
            headers=request.headers,
        )
        reachable = self._policy.reachable(model)
        if request.model in self._policy.auto_models:
            reachable.add(self._policy.strong_model)  # the router may pick either tier
        cap = (request.max_tokens or self._policy.output_cap(reachable)) * request.n
        try:
            async with self._call.hold(
                request,
                llm_request,
                models=reachable,
                completion_tokens=cap,
                clock=clock,
                hold_id=request_id,
            ) as billing:
                head = Head(request_id, model, tier, reason, None, exact, semantic)
                if request.stream:
                    relay = _Relay(request.include_usage, completion_id, created)
                    with clock.stage("llm"):
                        stream = self._call.stream(billing, llm_request)
                        if session is not None:  # billed on what the provider sent
                            stream = guard_chunks(session, stream)
                        async with aclosing(stream) as chunks:
                            # Headers wait for the provider's first event, so a refusal before
                            # it is still a plain HTTP error with its status.
                            first = await anext(chunks, None)
                            if billing.used_fallback:
                                head = dataclasses.replace(
                                    head,
                                    model=billing.model,
                                    fallback_reason=billing.fallback_reason,
                                )
                            yield head
                            for piece in relay.pieces(first, billing.model):
                                yield piece
                            async for provider_chunk in chunks:
                                for piece in relay.pieces(provider_chunk, billing.model):
                                    yield piece
                    yield Flush()  # the whole answer reaches the caller before the cache write
                    completion = relay.completion(billing)
                    native = None
                else:
                    yield head
                    with clock.stage("llm"):
                        response = await self._call.generate(billing, llm_request)
                    if session is not None:
                        response = guard_response(session, response)
                    native = response.native
                    completion = response.completion or completion_from_text(
                        response.text,
                        model=response.model,
                        finish_reason=response.finish_reason,
                        usage=usage_dict(response.usage),
                        completion_id=completion_id,
                        created=created,
                    )
                charged = billing.charge()
                _report(outcome, billing)
                saved = self._savings(request, tier, billing)
                with clock.stage("write"):
                    written = await self._cache.write(
                        scope,
                        completion,
                        model=billing.model,
                        usage=billing.usage,
                        cost_usd_micros=charged.usd_micros,
                        finish_reasons=_finish_reasons(completion),
                        used_fallback=billing.used_fallback,
                    )
                await self._call.settle(billing)
                outcome.status = "completed"
                yield Tail(
                    completion=completion,
                    model=billing.model,
                    usage=billing.usage,
                    cost_usd_micros=charged.usd_micros,
                    cost_known=charged.known,
                    saved_usd_micros=saved,
                    used_fallback=billing.used_fallback,
                    fallback_reason=billing.fallback_reason,
                    finish_reasons=_finish_reasons(completion),
                    simulated=billing.simulated,
                    cache_write=written,
                    latency_ms=clock.snapshot(),
                    native=native,
                )
        except BaseException as exc:
            if outcome.status != "completed":
                cancelled = isinstance(exc, GeneratorExit | anyio.get_cancelled_exc_class())
                outcome.status = "cancelled" if cancelled else "failed"
                outcome.error_code = None if cancelled else getattr(exc, "code", None)
            raise
        finally:
            if outcome.status != "completed" and "billing" in locals():
                _report(outcome, billing)

    async def _route(self, request: CompletionRequest) -> tuple[str, str, str]:
        p = self._policy
        if request.model not in p.auto_models:
            model = p.canonical(request.model) if p.canonical else request.model
            tier = {p.cheap_model: "cheap", p.strong_model: "strong"}.get(model)
            return model, tier or "explicit", "explicit model"
        decision = await self._router.route(request.messages, earlier_turns=0)
        return decision.model, decision.tier, decision.reason

    def _savings(self, request: CompletionRequest, tier: str, billing: Billing) -> int:
        if request.model not in self._policy.auto_models or tier != "cheap":
            return 0
        return routing_savings(self._costs, self._policy.strong_model, billing.bill, billing.usage)


class _Relay:
    """Turns provider chunks into the pieces a caller receives, and folds them into the
    whole completion (to cache and bill)."""

    def __init__(self, include_usage: bool, completion_id: str, created: int) -> None:
        self._include_usage = include_usage
        self._completion_id = completion_id
        self._created = created
        self._assembler = CompletionAssembler()
        self._opened = False

    def pieces(self, chunk: StreamChunk | None, model: str) -> list[Piece | Flush]:
        """What the caller receives for one provider chunk (the provider's own chunk, or
        one made from a text-only client's chunk, with the role chunk OpenAI opens with)."""
        if chunk is None:
            return []
        if chunk.attempt_ended:
            return [Flush()]  # the next attempt starts with a wait: send what came so far
        if chunk.native is not None:
            # The provider speaks the caller's protocol: its event goes out as is, whatever
            # it is (ping, block start...); its translation is what the core folds in.
            if chunk.payload is not None:
                self._assembler.add(chunk.payload)
            self._opened = True
            return [Piece(chunk.payload or {}, None, chunk.more, native=chunk.native)]
        payload = chunk.payload
        out: list[Piece | Flush] = []
        if payload is None:
            payload = self._made_up(chunk, model)
            if payload is None:
                return []
            if not self._opened and payload.get("choices"):
                out.append(self._add(self._role_chunk(model)))
        self._opened = True
        usage_only = not payload.get("choices") and payload.get("usage") is not None
        piece = self._add(Piece(payload, chunk.raw, chunk.more))
        if not usage_only or self._include_usage:
            out.append(piece)
        elif not chunk.more:
            out.append(Flush())  # a usage chunk asked for on the caller's behalf stays here
        return out

    def _add(self, piece: Piece) -> Piece:
        self._assembler.add(piece.chunk)
        return piece

    def _made_up(self, chunk: StreamChunk, model: str) -> dict[str, Any] | None:
        if chunk.text or chunk.finish_reason:
            return chunk_from_text(
                chunk.text,
                model=model,
                finish_reason=chunk.finish_reason,
                completion_id=self._completion_id,
                created=self._created,
            )
        if chunk.usage is not None:
            return {
                **self._role_chunk(model).chunk,
                "choices": [],
                "usage": usage_dict(chunk.usage),
            }
        return None

    def _role_chunk(self, model: str) -> Piece:
        chunk = chunk_from_text(
            "",
            model=model,
            finish_reason=None,
            completion_id=self._completion_id,
            created=self._created,
        )
        chunk["choices"][0]["delta"] = {"role": "assistant", "content": ""}
        return Piece(chunk)

    def completion(self, billing: Billing) -> dict[str, Any]:
        completion = self._assembler.completion(
            default_model=billing.model, completion_id=self._completion_id, created=self._created
        )
        if "usage" not in completion and billing.provider_usage is not None:
            completion["usage"] = usage_dict(billing.provider_usage)
        return completion


def _report(outcome: RunOutcome, billing: Billing) -> None:
    outcome.model = billing.model
    outcome.usage = billing.usage
    outcome.cost_usd_micros, outcome.cost_known = billing.bill.usd_micros, billing.bill.known
    outcome.ttft_ms, outcome.upstream_ms = billing.ttft_ms, billing.upstream_ms


def _finish_reasons(completion: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(c.get("finish_reason") for c in completion.get("choices") or ())


def usage_dict(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object for our `Usage`."""
    return {
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.total,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt},
    }
