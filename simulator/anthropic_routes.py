"""``/v1/messages`` (and the model list) in Anthropic's wire format, cache_control included."""

from __future__ import annotations

import uuid

import msgspec
from aiohttp import web

from agent.simulation import PlannedAnswer, paced, plan_answer
from agent.tokens import TOKENS_PER_MESSAGE, encoding_for_model
from agent.types import Message
from simulator.admission import (
    Admission,
    admit,
    cut_connection,
    decode_body,
    malformed_json_response,
)
from simulator.anthropic_wire import (
    ContentBlock,
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    Event,
    MessageDelta,
    MessagesRequest,
    MessageStart,
    MessageStop,
    ModelInfo,
    ModelPage,
    OutputUsage,
    Ping,
    StopDelta,
    TextBlock,
    TextDelta,
    Usage,
)
from simulator.anthropic_wire import Message as WireMessage
from simulator.errors import (
    ANTHROPIC_CONTEXT_LIMIT,
    context_length_message,
    error_response,
)
from simulator.prompt_cache import Segment, prompt_total
from simulator.sse import event_block, open_sse, send_pieces
from simulator.state import SIM_STATE, SimState

ANTHROPIC_MODELS = ("claude-3-5-haiku-latest", "claude-haiku-4-5", "claude-sonnet-4-5")
_GARBAGE_EVENT = b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}

_encoder = msgspec.json.Encoder()


def _blocks(content: str | list[ContentBlock] | None) -> list[ContentBlock]:
    if content is None:
        return []
    if isinstance(content, str):
        return [ContentBlock(type="text", text=content)]
    return content


def request_segments(body: MessagesRequest) -> list[Segment]:
    """One cache segment per content block (system first); role framing on each turn's first."""
    enc = encoding_for_model(body.model)
    turns = [("system", _blocks(body.system))] if body.system else []
    turns += [(message.role, _blocks(message.content)) for message in body.messages]
    segments: list[Segment] = []
    for role, blocks in turns:
        framing = TOKENS_PER_MESSAGE + len(enc.encode_ordinary(role))
        if not blocks:
            segments.append(Segment(key=role.encode(), tokens=framing))
        for index, block in enumerate(blocks):
            text = block.text or ""
            segments.append(
                Segment(
                    key=_encoder.encode((role, block.type, text)),
                    tokens=len(enc.encode_ordinary(text)) + (framing if index == 0 else 0),
                    breakpoint=block.cache_control is not None,
                )
            )
    return segments


def _as_messages(body: MessagesRequest) -> list[Message]:
    return [
        Message(
            role=message.role,
            content="".join(block.text or "" for block in _blocks(message.content)),
        )
        for message in body.messages
    ]


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages, JSON or SSE."""
    state = request.app[SIM_STATE]
    state.count_request("messages")
    admitted = await admit(request, state, "anthropic")
    if isinstance(admitted, web.Response):
        return admitted
    body = decode_body(await request.read(), MessagesRequest, "anthropic")
    if isinstance(body, web.Response):
        return body
    if not body.messages or body.max_tokens < 1:
        return error_response(
            "anthropic", "bad_request", "messages must be non-empty and max_tokens at least 1"
        )
    segments = request_segments(body)
    total = prompt_total(segments)
    if total > ANTHROPIC_CONTEXT_LIMIT:
        message = context_length_message("anthropic", total)
        return error_response("anthropic", "context_length", message)
    if admitted.fault == "disconnect" and not body.stream:
        return cut_connection(request)
    plan = plan_answer(
        _as_messages(body),
        body.model,
        max_tokens=body.max_tokens,
        output_tokens=admitted.knobs.output_tokens,
    )
    split = state.prompt_memory.anthropic_usage(body.model, segments)
    state.stats.prompt_tokens += total
    state.stats.cached_prompt_tokens += split.cache_read_input_tokens
    state.stats.cache_write_tokens += split.cache_creation_input_tokens
    usage = Usage(
        input_tokens=split.input_tokens,
        output_tokens=plan.completion_tokens,
        cache_creation_input_tokens=split.cache_creation_input_tokens,
        cache_read_input_tokens=split.cache_read_input_tokens,
    )
    message_id = f"msg_sim{uuid.uuid4().hex[:24]}"
    if body.stream:
        return await _stream(request, state, admitted, body.model, plan, usage, message_id)
    async for _ in paced(plan.pieces, admitted.knobs.pace):
        pass  # a JSON answer arrives when the whole stream would have finished
    if admitted.fault == "malformed":
        return malformed_json_response()
    state.stats.completion_tokens += plan.completion_tokens
    state.stats.responses_ok += 1
    reply = WireMessage(
        id=message_id,
        model=body.model,
        content=[TextBlock(plan.text)],
        stop_reason=_STOP_REASONS[plan.finish_reason],
        usage=usage,
    )
    return web.Response(body=_encoder.encode(reply), content_type="application/json")


def _event(event: Event) -> bytes:
    return event_block(_EVENT_NAMES[type(event)], _encoder.encode(event))


_EVENT_NAMES: dict[type, str] = {
    MessageStart: "message_start",
    ContentBlockStart: "content_block_start",
    Ping: "ping",
    ContentBlockDelta: "content_block_delta",
    ContentBlockStop: "content_block_stop",
    MessageDelta: "message_delta",
    MessageStop: "message_stop",
}


async def _stream(
    request: web.Request,
    state: SimState,
    admitted: Admission,
    model: str,
    plan: PlannedAnswer,
    usage: Usage,
    message_id: str,
) -> web.StreamResponse:
    # message_start reports input usage and a provisional output count, as Anthropic does.
    start_usage = Usage(
        input_tokens=usage.input_tokens,
        output_tokens=1,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
    )
    start = WireMessage(id=message_id, model=model, content=[], stop_reason=None, usage=start_usage)
    response = await open_sse(request)
    try:
        with state.track_stream("messages", model, plan.completion_tokens) as tracker:
            await response.write(
                _event(MessageStart(start))
                + _event(ContentBlockStart(0, TextBlock("")))
                + _event(Ping())
            )
            finished = await send_pieces(
                request,
                response,
                plan.pieces,
                pace=admitted.knobs.pace,
                tracker=tracker,
                fault=admitted.fault,
                frame=lambda piece: _event(ContentBlockDelta(0, TextDelta(piece))),
                garbage=_GARBAGE_EVENT,
            )
            if not finished:
                return response
            await response.write(
                _event(ContentBlockStop(0))
                + _event(
                    MessageDelta(
                        StopDelta(_STOP_REASONS[plan.finish_reason]),
                        OutputUsage(plan.completion_tokens),
                    )
                )
                + _event(MessageStop())
            )
            tracker.complete()
    except ConnectionResetError:
        return response  # the client went away; the tracker counted a cancel
    await response.write_eof()
    return response


def anthropic_models() -> web.Response:
    """The Anthropic-format model list."""
    page = ModelPage(
        data=[
            ModelInfo(id=model, display_name=model, created_at="2025-01-01T00:00:00Z")
            for model in ANTHROPIC_MODELS
        ],
        has_more=False,
        first_id=ANTHROPIC_MODELS[0],
        last_id=ANTHROPIC_MODELS[-1],
    )
    return web.Response(body=_encoder.encode(page), content_type="application/json")
