"""Anthropic Messages API wire types (the subset the simulator speaks), events included."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

_encoder = msgspec.json.Encoder()


class CacheControl(msgspec.Struct):
    type: str = "ephemeral"
    ttl: str | None = None


class ContentBlock(msgspec.Struct):
    """Any input block (text, image, document, tool_use, tool_result, thinking, ...)."""

    type: str
    text: str | None = None
    cache_control: CacheControl | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: str | list[ContentBlock] | None = None
    thinking: str | None = None

    @property
    def plain(self) -> str:
        """The text this block contributes to the prompt."""
        match self.type:
            case "tool_use":
                return (self.name or "") + _encoder.encode(self.input or {}).decode()
            case "tool_result":
                return block_text(self.content)
            case "thinking":
                return self.thinking or ""
            case _:
                return self.text or ""


def block_text(content: str | list[ContentBlock] | None) -> str:
    """The text of a string or of the text blocks of a list."""
    if isinstance(content, list):
        return "".join(block.text or "" for block in content if block.type == "text")
    return content or ""


class MessageIn(msgspec.Struct):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class ToolIn(msgspec.Struct):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class ToolChoiceIn(msgspec.Struct):
    type: str = "auto"
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingIn(msgspec.Struct):
    type: str = "disabled"
    budget_tokens: int | None = None


class MessagesRequest(msgspec.Struct):
    """A Messages request; fields not read here are accepted and ignored."""

    model: str
    max_tokens: int
    messages: list[MessageIn]
    system: str | list[ContentBlock] | None = None
    stream: bool | None = False
    stop_sequences: list[str] | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    thinking: ThinkingIn | None = None


class CountTokensRequest(msgspec.Struct):
    model: str
    messages: list[MessageIn]
    system: str | list[ContentBlock] | None = None
    tools: list[ToolIn] | None = None


class InputTokens(msgspec.Struct):
    input_tokens: int


class Usage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class TextBlock(msgspec.Struct, tag_field="type", tag="text"):
    text: str


class ToolUseBlock(msgspec.Struct, tag_field="type", tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any]


class ThinkingBlock(msgspec.Struct, tag_field="type", tag="thinking"):
    thinking: str
    signature: str


OutBlock = TextBlock | ToolUseBlock | ThinkingBlock


class Message(msgspec.Struct, tag_field="type", tag="message"):
    id: str
    model: str
    content: list[OutBlock]
    stop_reason: str | None
    usage: Usage
    role: Literal["assistant"] = "assistant"
    stop_sequence: str | None = None


class MessageStart(msgspec.Struct, tag_field="type", tag="message_start"):
    message: Message


class ContentBlockStart(msgspec.Struct, tag_field="type", tag="content_block_start"):
    index: int
    content_block: OutBlock


class Ping(msgspec.Struct, tag_field="type", tag="ping"):
    pass


class TextDelta(msgspec.Struct, tag_field="type", tag="text_delta"):
    text: str


class InputJsonDelta(msgspec.Struct, tag_field="type", tag="input_json_delta"):
    partial_json: str


class ThinkingDelta(msgspec.Struct, tag_field="type", tag="thinking_delta"):
    thinking: str


class SignatureDelta(msgspec.Struct, tag_field="type", tag="signature_delta"):
    signature: str


class ContentBlockDelta(msgspec.Struct, tag_field="type", tag="content_block_delta"):
    index: int
    delta: TextDelta | InputJsonDelta | ThinkingDelta | SignatureDelta


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
