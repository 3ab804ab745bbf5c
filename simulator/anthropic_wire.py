"""Anthropic Messages API wire types (the subset the simulator speaks), events included."""

from __future__ import annotations

from typing import Literal

import msgspec


class CacheControl(msgspec.Struct):
    type: str = "ephemeral"
    ttl: str | None = None


class ContentBlock(msgspec.Struct):
    type: str
    text: str | None = None
    cache_control: CacheControl | None = None


class MessageIn(msgspec.Struct):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class MessagesRequest(msgspec.Struct):
    model: str
    max_tokens: int
    messages: list[MessageIn]
    system: str | list[ContentBlock] | None = None
    stream: bool = False
    temperature: float | None = None
    stop_sequences: list[str] | None = None


class Usage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class TextBlock(msgspec.Struct, tag_field="type", tag="text"):
    text: str


class Message(msgspec.Struct, tag_field="type", tag="message"):
    id: str
    model: str
    content: list[TextBlock]
    stop_reason: str | None
    usage: Usage
    role: Literal["assistant"] = "assistant"
    stop_sequence: str | None = None


class MessageStart(msgspec.Struct, tag_field="type", tag="message_start"):
    message: Message


class ContentBlockStart(msgspec.Struct, tag_field="type", tag="content_block_start"):
    index: int
    content_block: TextBlock


class Ping(msgspec.Struct, tag_field="type", tag="ping"):
    pass


class TextDelta(msgspec.Struct, tag_field="type", tag="text_delta"):
    text: str


class ContentBlockDelta(msgspec.Struct, tag_field="type", tag="content_block_delta"):
    index: int
    delta: TextDelta


class ContentBlockStop(msgspec.Struct, tag_field="type", tag="content_block_stop"):
    index: int


class StopDelta(msgspec.Struct):
    stop_reason: str
    stop_sequence: str | None = None


class OutputUsage(msgspec.Struct):
    output_tokens: int


class MessageDelta(msgspec.Struct, tag_field="type", tag="message_delta"):
    delta: StopDelta
    usage: OutputUsage


class MessageStop(msgspec.Struct, tag_field="type", tag="message_stop"):
    pass


class ModelInfo(msgspec.Struct, tag_field="type", tag="model"):
    id: str
    display_name: str
    created_at: str


class ModelPage(msgspec.Struct):
    data: list[ModelInfo]
    has_more: bool
    first_id: str | None
    last_id: str | None


Event = (
    MessageStart
    | ContentBlockStart
    | Ping
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
)
