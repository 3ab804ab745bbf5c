"""From a Chat Completions request to the simulator's replies, and back to OpenAI's shapes.

Reads the request (turns, tools, tool_choice, response_format, limits) into the neutral
`simulator.reply` terms, and renders each `Reply` as a message or as stream chunk deltas.
"""

from __future__ import annotations

import hashlib

import msgspec

from simulator.answer import split_tokens
from simulator.openai_wire import (
    IMAGE_TOKENS,
    AssistantMessage,
    ChatMessageIn,
    ChatRequest,
    ChoiceLogprobs,
    Delta,
    FunctionCallOut,
    FunctionDelta,
    NamedToolChoice,
    TokenLogprob,
    ToolCallDelta,
    ToolCallOut,
    TopLogprob,
)
from simulator.prompt_cache import Segment
from simulator.reply import Conversation, Reply, Shape
from simulator.tokens import TOKENS_PER_MESSAGE, count_text_tokens
from simulator.tool_calls import ToolChoice, ToolOffer

_encoder = msgspec.json.Encoder()


def message_segments(messages: list[ChatMessageIn], model: str) -> list[Segment]:
    """One cache segment per message, framing, images and tool calls included."""
    segments = []
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        calls = [(c.function.name, c.function.arguments) for c in message.tool_calls or []]
        tokens = TOKENS_PER_MESSAGE + count_text_tokens(role, model)
        tokens += count_text_tokens(message.text, model) + IMAGE_TOKENS * message.images
        tokens += sum(count_text_tokens(n, model) + count_text_tokens(a, model) for n, a in calls)
        key = _encoder.encode((role, message.text, message.images, calls, message.tool_call_id))
        segments.append(Segment(key=key, tokens=tokens))
    return segments


def conversation(body: ChatRequest) -> Conversation:
    """The question, whether it is being asked now, and the trailing tool results."""
    question = next((m.text for m in reversed(body.messages) if m.role == "user"), "")
    names = {
        call.id: call.function.name
        for message in body.messages
        for call in message.tool_calls or []
    }
    results: list[tuple[str, str]] = []
    for message in reversed(body.messages):
        if message.role not in ("tool", "function"):
            break
        call_id = message.tool_call_id or ""
        results.insert(0, (names.get(call_id) or message.name or call_id, message.text))
    seed = hashlib.sha256(_encoder.encode((body.model, body.messages))).digest()
    last = body.messages[-1] if body.messages else None
    asks = last is not None and last.role == "user"
    prefill = last.text if last is not None and last.role == "assistant" else None
    return Conversation(body.model, question, asks, tuple(results), seed, prefill)


def tools_offered(body: ChatRequest) -> tuple[list[ToolOffer], ToolChoice]:
    """The function tools and how the caller lets the model use them."""
    offers = [
        ToolOffer(t.function.name, t.function.description or "", t.function.parameters or {})
        for t in body.tools or []
        if t.function is not None
    ]
    parallel = body.parallel_tool_calls is not False
    match body.tool_choice:
        case NamedToolChoice(function=function) if function is not None:
            return offers, ToolChoice("named", function.name, parallel)
        case "none" | "required" as mode:
            return offers, ToolChoice(mode, None, parallel)
        case _:
            return offers, ToolChoice("auto", None, parallel)


def shape(body: ChatRequest, output_tokens: int | None) -> Shape:
    """Limits and output format of the request."""
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    fmt = body.response_format
    schema = None
    if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        schema = fmt.json_schema.schema or {"type": "object"}
    json_object = fmt is not None and fmt.type == "json_object"
    return Shape(body.token_limit, output_tokens, stop, schema, json_object)


def assistant_message(reply: Reply) -> AssistantMessage:
    """The non-streamed message of one reply."""
    if reply.calls:
        calls = [ToolCallOut(c.id, FunctionCallOut(c.name, c.arguments)) for c in reply.calls]
        return AssistantMessage(None, tool_calls=calls)
    if reply.refusal:
        return AssistantMessage(None, refusal=reply.answer.text)
    return AssistantMessage(reply.answer.text)


def token_logprobs(pieces: tuple[str, ...] | list[str], top: int) -> list[TokenLogprob]:
    """Deterministic log-probabilities: the sampled token first, ``top`` alternatives."""
    entries = []
    for piece in pieces:
        raw = piece.encode()
        logprob = -((hashlib.sha256(raw).digest()[0] % 50) + 1) / 100
        alternatives = [TopLogprob(piece, logprob, list(raw))] + [
            TopLogprob(f"alt{rank}", logprob - rank, list(f"alt{rank}".encode()))
            for rank in range(1, top)
        ]
        entries.append(TokenLogprob(piece, logprob, list(raw), alternatives[:top]))
    return entries


def logprobs_for(pieces: tuple[str, ...] | list[str], body: ChatRequest) -> ChoiceLogprobs | None:
    """The ``logprobs`` field for ``pieces``, or None when the caller didn't ask."""
    if not body.logprobs:
        return None
    return ChoiceLogprobs(token_logprobs(pieces, body.top_logprobs or 0))


def stream_deltas(reply: Reply, model: str) -> list[tuple[Delta, list[str], int]]:
    """The deltas of one streamed reply: (delta, text pieces for logprobs, tokens)."""
    if not reply.calls:
        if reply.refusal:
            return [(Delta(refusal=p), [p], 1) for p in reply.answer.pieces]
        return [(Delta(content=p), [p], 1) for p in reply.answer.pieces]
    deltas: list[tuple[Delta, list[str], int]] = []
    for index, call in enumerate(reply.calls):
        head = ToolCallDelta(index, call.id, "function", FunctionDelta(call.name, ""))
        deltas.append((Delta(tool_calls=[head]), [], count_text_tokens(call.name, model)))
        for piece in _argument_pieces(call.arguments, model):
            part = ToolCallDelta(index, function=FunctionDelta(arguments=piece))
            deltas.append((Delta(tool_calls=[part]), [], count_text_tokens(piece, model)))
    return deltas


def _argument_pieces(arguments: str, model: str) -> list[str]:
    # A few tokens per chunk, as OpenAI streams them, and never fewer than two chunks.
    tokens = split_tokens(arguments, model)
    pieces = ["".join(tokens[i : i + 3]) for i in range(0, len(tokens), 3)]
    if len(pieces) < 2:
        middle = max(1, len(arguments) // 2)
        pieces = [arguments[:middle], arguments[middle:]]
    return pieces
