"""``/v1/chat/completions`` and ``/v1/models`` in OpenAI's wire format, JSON and SSE."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from simulator.admission import (
    Admission,
    admit,
    cut_connection,
    decode_body,
    malformed_json_response,
)
from simulator.answer import paced
from simulator.errors import error_response
from simulator.limits import refusal
from simulator.openai_answer import (
    assistant_message,
    conversation,
    logprobs_for,
    message_segments,
    shape,
    stream_deltas,
    tools_offered,
)
from simulator.openai_wire import (
    ROLES,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    ChatUsage,
    Choice,
    ChunkChoice,
    CompletionTokensDetails,
    Delta,
    ModelCard,
    ModelList,
    PromptTokensDetails,
)
from simulator.produced import Produced, tag_of
from simulator.prompt_cache import prompt_total
from simulator.reply import Reply, plan_replies
from simulator.sse import CUT_FAULTS, OPENAI_DONE, data_line, open_sse, send_pieces
from simulator.state import SIM_STATE, SimState

OPENAI_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "gpt-4.1",
    "text-embedding-3-small",
    "text-embedding-3-large",
)
_GARBAGE_LINE = b'data: {"id": "chatcmpl-sim", "object": "chat.completion.chunk", "choi\n\n'
_MAX_CHOICES = 128

_encoder = msgspec.json.Encoder()


def _invalid(body: ChatRequest) -> str | None:
    # The checks OpenAI makes that the simulator mirrors; None when the request is fine.
    limit = body.token_limit
    if not body.messages or (limit is not None and limit < 1):
        return "messages must be non-empty and max_tokens at least 1"
    bad = next((m.role for m in body.messages if m.role not in ROLES), None)
    if bad is not None:
        return f"unknown role {bad!r}"
    if body.n is not None and not 1 <= body.n <= _MAX_CHOICES:
        return f"n must be between 1 and {_MAX_CHOICES}"
    if body.top_logprobs is not None and not 0 <= body.top_logprobs <= 20:
        return "top_logprobs must be between 0 and 20"
    return None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions, JSON or SSE."""
    state = request.app[SIM_STATE]
    state.count_request("chat.completions")
    admitted = await admit(request, state, "openai")
    if isinstance(admitted, web.Response):
        return admitted
    raw = await request.read()
    body = decode_body(raw, ChatRequest, "openai")
    if isinstance(body, web.Response):
        return body
    problem = _invalid(body)
    if problem is not None:
        return error_response("openai", "bad_request", problem)
    segments = message_segments(body.messages, body.model)
    total = prompt_total(segments)
    refused = refusal(state, "openai", body.model, total, body.messages[-1].role)
    if refused is not None:
        return refused
    if admitted.fault in CUT_FAULTS and not body.stream:
        return cut_connection(request)
    offers, choice = tools_offered(body)
    replies = plan_replies(
        conversation(body),
        offers,
        choice,
        shape(body, admitted.knobs.output_tokens),
        count=body.n or 1,
    )
    cached = state.prompt_memory.openai_cached_tokens(body.model, segments)
    state.stats.prompt_tokens += total
    state.stats.cached_prompt_tokens += cached
    completion_tokens = sum(reply.completion_tokens(body.model) for reply in replies)
    usage = ChatUsage(
        prompt_tokens=total,
        completion_tokens=completion_tokens,
        total_tokens=total + completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=sum(reply.reasoning_tokens for reply in replies)
        ),
    )
    completion_id = f"chatcmpl-sim{uuid.uuid4().hex[:24]}"
    fingerprint = f"fp_sim_{body.seed if body.seed is not None else 'default'}"
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        meta = _StreamMeta(
            completion_id, body.model, fingerprint, include_usage, usage, tag_of(raw)
        )
        return await _stream(request, state, admitted, body, replies, meta)
    pieces = [piece for reply in replies for piece in reply.answer.pieces]
    async for _ in paced(pieces, admitted.knobs.pace):
        pass  # a JSON answer arrives when the whole stream would have finished
    if admitted.fault == "malformed":
        return malformed_json_response()
    state.stats.completion_tokens += completion_tokens
    state.stats.responses_ok += 1
    state.produced.add(
        tag_of(raw), Produced(body.model, total, cached, completion_tokens, reported=True)
    )
    choices = [
        Choice(
            index,
            assistant_message(reply),
            reply.finish_reason,
            None if reply.calls or reply.refusal else logprobs_for(reply.answer.pieces, body),
        )
        for index, reply in enumerate(replies)
    ]
    completion = ChatCompletion(
        completion_id, int(time.time()), body.model, choices, usage, fingerprint
    )
    return web.Response(body=_encoder.encode(completion), content_type="application/json")


@dataclass(frozen=True)
class _StreamMeta:
    completion_id: str
    model: str
    fingerprint: str
    include_usage: bool
    usage: ChatUsage
    tag: str | None


async def _stream(
    request: web.Request,
    state: SimState,
    admitted: Admission,
    body: ChatRequest,
    replies: list[Reply],
    meta: _StreamMeta,
) -> web.StreamResponse:
    created = int(time.time())
    usage_field: ChatUsage | msgspec.UnsetType | None = (
        None if meta.include_usage else msgspec.UNSET
    )

    def chunk(choices: list[ChunkChoice], chunk_usage: Any = usage_field) -> bytes:
        event = ChatCompletionChunk(
            meta.completion_id, created, meta.model, choices, meta.fingerprint, usage=chunk_usage
        )
        return data_line(_encoder.encode(event))

    # Every choice: its deltas, the role chunk riding with the first (as OpenAI's does).
    units: list[tuple[bytes, int]] = []
    for index, reply in enumerate(replies):
        lead = chunk([ChunkChoice(index, Delta(role="assistant", content=""))])
        for position, (delta, pieces, tokens) in enumerate(stream_deltas(reply, meta.model)):
            logprobs = logprobs_for(pieces, body) if pieces and not reply.refusal else None
            frame = chunk([ChunkChoice(index, delta, None, logprobs)])
            units.append(((lead if position == 0 else b"") + frame, tokens))
        if not reply.answer.pieces and not reply.calls:
            units.append((lead, 0))
    planned = sum(tokens for _, tokens in units)
    response = await open_sse(request)
    tracker = state.track_stream("chat.completions", meta.model, planned)
    usage_sent = False
    try:
        with tracker:
            finished = await send_pieces(
                request,
                response,
                units,
                pace=admitted.knobs.pace,
                tracker=tracker,
                fault=admitted.fault,
                frame=lambda unit: unit[0],
                garbage=_GARBAGE_LINE,
                tokens=lambda unit: unit[1],
                stall_after=state.config.stall_after_chunks,
            )
            if not finished:
                return response
            for index, reply in enumerate(replies):
                await response.write(chunk([ChunkChoice(index, Delta(), reply.finish_reason)]))
                tracker.sent(reply.reasoning_tokens)
            if meta.include_usage:
                await response.write(chunk([], meta.usage))
                usage_sent = True
            if admitted.fault == "no_done":
                tracker.abort()  # everything but the terminator: the body just ends
            else:
                await response.write(OPENAI_DONE)
                tracker.complete()
    except ConnectionResetError:
        return response  # the client went away; the tracker counted a cancel
    finally:
        state.produced.add(meta.tag, _produced(meta, usage_sent, tracker.record.sent_tokens))
    await response.write_eof()
    return response


def _produced(meta: _StreamMeta, usage_sent: bool, sent_tokens: int) -> Produced:
    # A stream cut before its usage chunk: the prompt it read once it began to answer, and
    # the output tokens that went out; nothing at all when it was cut before the first one.
    if not usage_sent:
        prompt = meta.usage.prompt_tokens if sent_tokens else 0
        return Produced(meta.model, prompt, 0, sent_tokens, reported=False)
    usage = meta.usage
    cached = usage.prompt_tokens_details.cached_tokens
    return Produced(meta.model, usage.prompt_tokens, cached, usage.completion_tokens, True)


_CREATED = 1_700_000_000


def openai_models() -> web.Response:
    """The OpenAI-format model list."""
    listing = ModelList([ModelCard(id=model, created=_CREATED) for model in OPENAI_MODELS])
    return web.Response(body=_encoder.encode(listing), content_type="application/json")


def openai_model(model_id: str) -> web.Response:
    """One model card; any id is served (the simulator answers for every model name)."""
    card = ModelCard(id=model_id, created=_CREATED)
    return web.Response(body=_encoder.encode(card), content_type="application/json")
