"""From a Messages request to the simulator's reply, and back to Anthropic's blocks and events.

Segments for prompt caching, the conversation and tool offers in `simulator.reply` terms,
thinking blocks, and the content-block event sequence of a streamed reply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import msgspec

from simulator.answer import split_tokens
from simulator.anthropic_wire import (
    ContentBlock,
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    CountTokensRequest,
    InputJsonDelta,
    MessagesRequest,
    OutBlock,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    block_text,
)
from simulator.prompt_cache import Segment
from simulator.reply import Conversation, Reply
from simulator.tokens import TOKENS_PER_MESSAGE, count_text_tokens
from simulator.tool_calls import ToolChoice, ToolOffer

_encoder = msgspec.json.Encoder()
_MODES = {"auto": "auto", "any": "required", "tool": "named", "none": "none"}


def _blocks(content: str | list[ContentBlock] | None) -> list[ContentBlock]:
    if content is None:
        return []
    if isinstance(content, str):
        return [ContentBlock(type="text", text=content)]
    return content


def request_segments(body: MessagesRequest | CountTokensRequest) -> list[Segment]:
    """One cache segment per content block (system first); role framing on each turn's first."""
    turns = [("system", _blocks(body.system))] if body.system else []
    turns += [(message.role, _blocks(message.content)) for message in body.messages]
    segments: list[Segment] = []
    for role, blocks in turns:
        framing = TOKENS_PER_MESSAGE + count_text_tokens(role, body.model)
        if not blocks:
            segments.append(Segment(key=role.encode(), tokens=framing))
        for index, block in enumerate(blocks):
            text = block.plain
            segments.append(
                Segment(
                    key=_encoder.encode((role, block.type, text)),
                    tokens=count_text_tokens(text, body.model) + (framing if index == 0 else 0),
                    breakpoint=block.cache_control is not None,
                )
            )
    return segments


def conversation(body: MessagesRequest) -> Conversation:
    """The last user question, whether it is asked now, and the trailing tool results."""
    names = {
        block.id: block.name or ""
        for message in body.messages
        for block in _blocks(message.content)
        if block.type == "tool_use" and block.id
    }
    question, asks, results = "", False, []
    for message in reversed(body.messages):
        if message.role != "user":
            continue
        blocks = _blocks(message.content)
        question = block_text(blocks)
        if message is body.messages[-1]:
            results = [
                (names.get(b.tool_use_id or "") or b.tool_use_id or "", block_text(b.content))
                for b in blocks
                if b.type == "tool_result"
            ]
            asks = not results
        if question:
            break
    seed = hashlib.sha256(_encoder.encode((body.model, body.messages))).digest()
    last = body.messages[-1] if body.messages else None
    # An assistant turn last is Anthropic's native prefill: the answer continues it.
    prefill = block_text(last.content) if last is not None and last.role == "assistant" else None
    return Conversation(body.model, question, asks, tuple(results), seed, prefill)


def tools_offered(body: MessagesRequest) -> tuple[list[ToolOffer], ToolChoice]:
    """The custom tools and the tool_choice in neutral terms."""
    offers = [
        ToolOffer(t.name, t.description or "", t.input_schema or {}) for t in body.tools or []
    ]
    choice = body.tool_choice
    if choice is None:
        return offers, ToolChoice()
    mode = _MODES.get(choice.type, "auto")
    parallel = not choice.disable_parallel_tool_use
    return offers, ToolChoice(mode, choice.name, parallel)  # type: ignore[arg-type]


def stop_reason(reply: Reply) -> str:
    """Anthropic's stop reason for ``reply``."""
    if reply.calls:
        return "tool_use"
    if reply.refusal:
        return "refusal"
    if reply.answer.finish_reason == "length":
        return "max_tokens"
    return "stop_sequence" if reply.answer.stop_sequence is not None else "end_turn"


@dataclass(frozen=True)
class Thought:
    """The thinking block shown before the answer when extended thinking is on."""

    text: str
    signature: str

    @classmethod
    def about(cls, question: str) -> Thought:
        text = f"The user asks: {question.strip()[:200]} I should answer from the help centre."
        return cls(text, hashlib.sha256(text.encode()).hexdigest())


def content_blocks(reply: Reply, thought: Thought | None) -> list[OutBlock]:
    """The blocks of a non-streamed reply."""
    blocks: list[OutBlock] = [ThinkingBlock(thought.text, thought.signature)] if thought else []
    if reply.calls:
        blocks += [ToolUseBlock(c.id, c.name, json.loads(c.arguments)) for c in reply.calls]
    else:
        blocks.append(TextBlock(reply.answer.text))
    return blocks


StreamEvent = ContentBlockStart | ContentBlockDelta | ContentBlockStop


def stream_events(
    reply: Reply, thought: Thought | None, model: str
) -> list[tuple[StreamEvent, int]]:
    """Every content-block event of a streamed reply, with the tokens each delta carries."""
    events: list[tuple[StreamEvent, int]] = []
    index = 0
    if thought is not None:
        events.append((ContentBlockStart(index, ThinkingBlock("", "")), 0))
        for piece in split_tokens(thought.text, model):
            events.append((ContentBlockDelta(index, ThinkingDelta(piece)), 1))
        events.append((ContentBlockDelta(index, SignatureDelta(thought.signature)), 0))
        events.append((ContentBlockStop(index), 0))
        index += 1
    if not reply.calls:
        events.append((ContentBlockStart(index, TextBlock("")), 0))
        events += [(ContentBlockDelta(index, TextDelta(p)), 1) for p in reply.answer.pieces]
        events.append((ContentBlockStop(index), 0))
        return events
    for call in reply.calls:
        events.append((ContentBlockStart(index, ToolUseBlock(call.id, call.name, {})), 0))
        tokens = split_tokens(call.arguments, model)
        pieces = ["".join(tokens[i : i + 3]) for i in range(0, len(tokens), 3)]
        for piece in pieces:
            delta = ContentBlockDelta(index, InputJsonDelta(piece))
            events.append((delta, count_text_tokens(piece, model)))
        events.append((ContentBlockStop(index), 0))
        index += 1
    return events
