"""`stream_events`: the streaming form of the Answer pipeline, behind `Agent.stream`.

Same stages as `Agent.answer`; step 7 forwards chunks as they arrive. Whatever ends the stream
(completion, a provider failure, the consumer closing it, cancellation), the tokens produced
are billed once and reported in the caller's `StreamOutcome`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import msgspec

from agent.errors import AgentError, ProviderError, StreamInterrupted
from agent.pipeline.request import ChatRequest
from agent.pipeline.response import (
    Done,
    Error,
    Meta,
    StreamEvent,
    StreamOutcome,
    StreamStatus,
    Token,
)
from agent.pipeline.run import Run
from agent.pipeline.shaping import (
    cache_route,
    diagnostics,
    done_event,
    estimate_usage,
    fill_outcome,
    replay_pieces,
    sources_and_tags,
)
from agent.tokens import count_text_tokens
from agent.types import LLMRequest, StreamChunk, Usage

if TYPE_CHECKING:
    from agent.pipeline.agent import Agent

_log = logging.getLogger(__name__)

_CLOSE_GRACE_S = 5.0


async def stream_events(
    agent: Agent, request: ChatRequest, outcome: StreamOutcome
) -> AsyncGenerator[StreamEvent, None]:
    """Yield `Meta`, `Token`…, then `Done` or `Error`; see `Agent.stream`."""
    run = await agent.begin(request)
    parts: list[str] = []
    llm_request: LLMRequest | None = None
    answered_by: str | None = None  # the model named by the provider's chunks
    provider_usage: Usage | None = None
    counted = 0  # text chunks the provider's latest usage already covers
    finished = False  # billed and reported: closing at the final yield must not bill again
    try:
        read = await agent.read_cache(run)
        if read.answer is not None:
            cached = read.answer
            yield Meta(cached.model, cache_route(read), read.source, run.request_id)
            for piece in replay_pieces(cached.answer, agent.replay_words):
                yield Token(piece)
            response = await agent.cached_response(run, cached, read)
            fill_outcome(outcome, "completed", response.model, run, cached.answer)
            finished = True
            outcome.done = done_event(response)
            yield outcome.done
            return
        route = await agent.choose_route(run)
        results = await agent.gather_tools(run)
        prepared = agent.llm_request(run, route, results)
        # Reserved before the first event, so a refusal is still a plain HTTP error.
        await agent.reserve(run, prepared)
        yield Meta(route.model, route, None, run.request_id)
        run.iterations.spend("the model call")
        model, simulated, fallback, reason = route.model, False, False, None
        finish_reason: str | None = None
        with run.clock.stage("llm"):
            llm_request = prepared  # from here on the provider may bill us
            async with _closing(agent.llm.stream(prepared)) as chunks:
                async for chunk in chunks:
                    answered_by = chunk.model or answered_by
                    model = answered_by or model
                    simulated, fallback = chunk.simulated, chunk.used_fallback
                    reason = chunk.fallback_reason
                    finish_reason = chunk.finish_reason or finish_reason
                    if chunk.usage is not None:
                        provider_usage = chunk.usage
                        counted = len(parts) + (1 if chunk.text else 0)
                    if chunk.text:
                        first = not parts
                        if first:
                            run.clock.mark("ttft")
                        parts.append(chunk.text)
                        yield Token(chunk.text, model if first else None)
        text = "".join(parts)
        agent.charge(run, model, _billable_usage(prepared, model, parts, provider_usage, counted))
        saved = agent.savings(run, route)
        sources, tags = sources_and_tags(results)
        _, write = await agent.remember(run, text, model, results, fallback, sources, tags)
        await agent.settle(run)
        fill_outcome(outcome, "completed", model, run, text)
        total = run.bill + run.summary_bill
        finished = True
        outcome.done = Done(
            model=model,
            usage=run.usage,
            cost_usd_micros=total.usd_micros,
            cost_known=total.known,
            saved_usd_micros=saved,
            summary_cost_usd_micros=run.summary_bill.usd_micros,
            latency_ms=run.clock.snapshot(),
            sources=sources,
            used_fallback=fallback,
            fallback_reason=reason,
            simulated=simulated,
            request_id=run.request_id,
            cache_diagnostics=diagnostics(read, write),
            finish_reason=finish_reason or "stop",
        )
        yield outcome.done
    except AgentError as exc:
        code = exc.code
        if parts and isinstance(exc, ProviderError) and not isinstance(exc, StreamInterrupted):
            code = StreamInterrupted.code  # text already reached the client: not retryable
        _log.warning("stream %s failed (%s): %s", run.request_id, code, exc)
        model_name = _bill_partial(
            agent, run, llm_request, answered_by, parts, provider_usage, counted
        )
        await agent.settle(run)
        fill_outcome(outcome, "failed", model_name, run, "".join(parts))
        outcome.error_code = code
        yield Error(code, str(exc), run.request_id)
    except BaseException as exc:
        # The consumer closed the stream (GeneratorExit) or was cancelled: bill what was
        # produced. Anything else is a bug; it is billed the same way and propagates.
        if finished:
            raise
        model_name = _bill_partial(
            agent, run, llm_request, answered_by, parts, provider_usage, counted
        )
        cancelled = isinstance(exc, GeneratorExit | anyio.get_cancelled_exc_class())
        status: StreamStatus = "cancelled" if cancelled else "failed"
        fill_outcome(outcome, status, model_name, run, "".join(parts))
        raise
    finally:
        await agent.settle_on_exit(run)


def _bill_partial(
    agent: Agent,
    run: Run,
    llm_request: LLMRequest | None,
    answered_by: str | None,
    parts: list[str],
    provider_usage: Usage | None,
    counted: int,
) -> str | None:
    # Nothing is billed unless the provider call was made; after a fallback the secondary's
    # model (and price) applies.
    if llm_request is None:
        return None
    model = answered_by or llm_request.model
    agent.charge(run, model, _billable_usage(llm_request, model, parts, provider_usage, counted))
    return model


def _billable_usage(
    request: LLMRequest, model: str, parts: list[str], provider_usage: Usage | None, counted: int
) -> Usage:
    # The provider's latest usage, else our count. Text that arrived after that usage (cut
    # after Anthropic's message_start, whose output count is provisional) keeps the
    # provider's input buckets, cache reads and writes included, and counts the output itself.
    text = "".join(parts)
    if provider_usage is None:
        return estimate_usage(request, model, text)
    if counted >= len(parts):
        return provider_usage
    produced = count_text_tokens(text, model)
    if produced <= provider_usage.completion:
        return provider_usage
    return msgspec.structs.replace(provider_usage, completion=produced, estimated=True)


@asynccontextmanager
async def _closing(chunks: AsyncIterator[StreamChunk]) -> AsyncIterator[AsyncIterator[StreamChunk]]:
    # Close the upstream iterator however the block ends, so a client going away closes
    # the provider's connection too (the LLMClient contract). Shielded: we may be cancelled.
    try:
        yield chunks
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
                await aclose()
