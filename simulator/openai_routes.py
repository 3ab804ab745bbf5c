"""``/v1/chat/completions``, ``/v1/embeddings`` and ``/v1/models`` in OpenAI's wire format."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from aiohttp import web

from agent.simulation import PlannedAnswer, paced, plan_answer
from agent.tokens import count_text_tokens, encoding_for_model
from agent.types import Message
from simulator.admission import (
    Admission,
    admit,
    cut_connection,
    decode_body,
    malformed_json_response,
)
from simulator.errors import (
    OPENAI_CONTEXT_LIMIT,
    context_length_message,
    error_response,
)
from simulator.openai_wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    ChatUsage,
    Choice,
    ChunkChoice,
    Delta,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    EmbeddingUsage,
    ModelCard,
    ModelList,
    PromptTokensDetails,
)
from simulator.prompt_cache import Segment, prompt_total
from simulator.sse import OPENAI_DONE, data_line, open_sse, send_pieces
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

_encoder = msgspec.json.Encoder()


def message_segments(messages: Sequence[Message], model: str) -> list[Segment]:
    """One cache segment per message, framing included (matches `count_message_tokens`)."""
    enc = encoding_for_model(model)
    return [
        Segment(
            key=_encoder.encode(message),
            tokens=3
            + len(enc.encode_ordinary(message.role))
            + len(enc.encode_ordinary(message.content)),
        )
        for message in messages
    ]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions, JSON or SSE."""
    state = request.app[SIM_STATE]
    state.count_request("chat.completions")
    admitted = await admit(request, state, "openai")
    if isinstance(admitted, web.Response):
        return admitted
    body = decode_body(await request.read(), ChatRequest, "openai")
    if isinstance(body, web.Response):
        return body
    try:
        messages = [message.as_message() for message in body.messages]
    except msgspec.ValidationError as exc:
        return error_response("openai", "bad_request", str(exc))
    limit = body.token_limit
    if not messages or (limit is not None and limit < 1):
        return error_response(
            "openai", "bad_request", "messages must be non-empty and max_tokens at least 1"
        )
    segments = message_segments(messages, body.model)
    total = prompt_total(segments)
    if total > OPENAI_CONTEXT_LIMIT:
        message = context_length_message("openai", total)
        return error_response("openai", "context_length", message)
    if admitted.fault == "disconnect" and not body.stream:
        return cut_connection(request)
    plan = plan_answer(
        messages, body.model, max_tokens=limit, output_tokens=admitted.knobs.output_tokens
    )
    cached = state.prompt_memory.openai_cached_tokens(body.model, segments)
    state.stats.prompt_tokens += total
    state.stats.cached_prompt_tokens += cached
    usage = ChatUsage(
        prompt_tokens=total,
        completion_tokens=plan.completion_tokens,
        total_tokens=total + plan.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
    )
    completion_id = f"chatcmpl-sim{uuid.uuid4().hex[:24]}"
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return await _stream(
            request, state, admitted, body.model, plan, usage, completion_id, include_usage
        )
    async for _ in paced(plan.pieces, admitted.knobs.pace):
        pass  # a JSON answer arrives when the whole stream would have finished
    if admitted.fault == "malformed":
        return malformed_json_response()
    state.stats.completion_tokens += plan.completion_tokens
    state.stats.responses_ok += 1
    completion = ChatCompletion(
        id=completion_id,
        created=int(time.time()),
        model=body.model,
        choices=[Choice(0, AssistantMessage(plan.text), plan.finish_reason)],
        usage=usage,
    )
    return web.Response(body=_encoder.encode(completion), content_type="application/json")


async def _stream(
    request: web.Request,
    state: SimState,
    admitted: Admission,
    model: str,
    plan: PlannedAnswer,
    usage: ChatUsage,
    completion_id: str,
    include_usage: bool,
) -> web.StreamResponse:
    created = int(time.time())
    usage_field: ChatUsage | msgspec.UnsetType | None = None if include_usage else msgspec.UNSET

    def chunk(choices: list[ChunkChoice], chunk_usage: Any = usage_field) -> bytes:
        event = ChatCompletionChunk(completion_id, created, model, choices, usage=chunk_usage)
        return data_line(_encoder.encode(event))

    first = [True]

    def frame(piece: str) -> bytes:
        # The role-only chunk goes out with the first token, as OpenAI's does.
        lead = chunk([ChunkChoice(0, Delta(role="assistant", content=""))]) if first[0] else b""
        first[0] = False
        return lead + chunk([ChunkChoice(0, Delta(content=piece))])

    response = await open_sse(request)
    try:
        with state.track_stream("chat.completions", model, plan.completion_tokens) as tracker:
            finished = await send_pieces(
                request,
                response,
                plan.pieces,
                pace=admitted.knobs.pace,
                tracker=tracker,
                fault=admitted.fault,
                frame=frame,
                garbage=_GARBAGE_LINE,
            )
            if not finished:
                return response
            await response.write(chunk([ChunkChoice(0, Delta(), plan.finish_reason)]))
            if include_usage:
                await response.write(chunk([], usage))
            await response.write(OPENAI_DONE)
            tracker.complete()
    except ConnectionResetError:
        return response  # the client went away; the tracker counted a cancel
    await response.write_eof()
    return response


def embedding_vector(text: str, dim: int) -> npt.NDArray[np.float32]:
    """A unit vector determined by ``text`` alone (same text, same vector, any process)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _embedding_inputs(raw: str | list[Any], model: str) -> tuple[list[str], int] | str:
    # Returns (texts, prompt tokens) or an error message.
    if isinstance(raw, str):
        return [raw], count_text_tokens(raw, model)
    if not raw:
        return "input must not be empty"
    if all(isinstance(item, int) for item in raw):
        raw = [raw]
    texts: list[str] = []
    tokens = 0
    enc = encoding_for_model(model)
    for item in raw:
        if isinstance(item, str):
            texts.append(item)
            tokens += count_text_tokens(item, model)
        elif isinstance(item, list) and all(isinstance(t, int) for t in item):
            texts.append(enc.decode(item))
            tokens += len(item)
        else:
            return "input must be a string, a list of strings, or token arrays"
    return texts, tokens


async def embeddings(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings: deterministic unit vectors, real prompt token counts."""
    state = request.app[SIM_STATE]
    state.count_request("embeddings")
    admitted = await admit(request, state, "openai")
    if isinstance(admitted, web.Response):
        return admitted
    body = decode_body(await request.read(), EmbeddingRequest, "openai")
    if isinstance(body, web.Response):
        return body
    parsed = _embedding_inputs(body.input, body.model)
    if isinstance(parsed, str):
        return error_response("openai", "bad_request", parsed)
    texts, tokens = parsed
    dim = body.dimensions or state.config.embedding_dim
    if dim < 1:
        return error_response("openai", "bad_request", "dimensions must be at least 1")
    if admitted.fault == "disconnect":
        return cut_connection(request)
    async for _ in paced([""], admitted.knobs.pace):
        pass  # only the time to first token applies: embeddings aren't streamed
    if admitted.fault == "malformed":
        return malformed_json_response()
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dim)
        value: list[float] | str = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode()
            if body.encoding_format == "base64"
            else vector.tolist()
        )
        data.append(Embedding(index=index, embedding=value))
    state.stats.embedding_inputs += len(texts)
    state.stats.prompt_tokens += tokens
    state.stats.responses_ok += 1
    result = EmbeddingList(data, body.model, EmbeddingUsage(tokens, tokens))
    return web.Response(body=_encoder.encode(result), content_type="application/json")


def openai_models() -> web.Response:
    """The OpenAI-format model list."""
    created = 1_700_000_000
    listing = ModelList([ModelCard(id=model, created=created) for model in OPENAI_MODELS])
    return web.Response(body=_encoder.encode(listing), content_type="application/json")
