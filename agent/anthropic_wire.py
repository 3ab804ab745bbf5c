"""Anthropic Messages API wire formats, as msgspec Structs.

Stream events are a tagged union on ``type``; event names this module does not know are
skipped by the client before decoding (Anthropic may add new ones).
"""

from __future__ import annotations

import msgspec

from agent.types import Usage


class CacheControl(msgspec.Struct, frozen=True):
    type: str = "ephemeral"


class TextBlock(msgspec.Struct, frozen=True, omit_defaults=True, tag="text", tag_field="type"):
    # A tag, not a defaulted field, so omit_defaults never drops "type": "text".
    text: str
    cache_control: CacheControl | None = None


class WireMessage(msgspec.Struct, frozen=True):
    role: str
    content: str


class Metadata(msgspec.Struct, frozen=True):
    user_id: str


class MessagesRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    max_tokens: int
    messages: list[WireMessage]
    system: list[TextBlock] | None = None
    temperature: float | None = None
    metadata: Metadata | None = None
    stream: bool = False


class WireUsage(msgspec.Struct, frozen=True):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None

    def merged(self, later: WireUsage) -> WireUsage:
        """``later`` (a message_delta's cumulative counts) wins wherever it has a value."""
        return WireUsage(
            input_tokens=_pick(later.input_tokens, self.input_tokens),
            output_tokens=_pick(later.output_tokens, self.output_tokens),
            cache_creation_input_tokens=_pick(
                later.cache_creation_input_tokens, self.cache_creation_input_tokens
            ),
            cache_read_input_tokens=_pick(
                later.cache_read_input_tokens, self.cache_read_input_tokens
            ),
        )

    def to_usage(self) -> Usage:
        """Anthropic's ``input_tokens`` excludes cache reads and writes; `Usage.prompt` has all."""
        read = self.cache_read_input_tokens or 0
        write = self.cache_creation_input_tokens or 0
        return Usage(
            prompt=(self.input_tokens or 0) + read + write,
            cached_prompt=read,
            cache_write=write,
            completion=self.output_tokens or 0,
        )


def _pick(first: int | None, second: int | None) -> int | None:
    return first if first is not None else second


class ContentBlock(msgspec.Struct, frozen=True):
    type: str
    text: str = ""


class Message(msgspec.Struct, frozen=True):
    content: list[ContentBlock] = []
    model: str = ""
    stop_reason: str | None = None
    usage: WireUsage = WireUsage()


class ErrorDetail(msgspec.Struct, frozen=True):
    type: str = "api_error"
    message: str = ""


class TextDelta(msgspec.Struct, frozen=True):
    type: str
    text: str = ""


class StopDelta(msgspec.Struct, frozen=True):
    stop_reason: str | None = None


class MessageStart(msgspec.Struct, frozen=True, tag="message_start", tag_field="type"):
    message: Message


class ContentBlockStart(msgspec.Struct, frozen=True, tag="content_block_start", tag_field="type"):
    index: int = 0


class ContentBlockDelta(msgspec.Struct, frozen=True, tag="content_block_delta", tag_field="type"):
    # text_delta carries text; input_json/thinking/signature deltas are ignored.
    delta: TextDelta
    index: int = 0


class ContentBlockStop(msgspec.Struct, frozen=True, tag="content_block_stop", tag_field="type"):
    index: int = 0


class MessageDelta(msgspec.Struct, frozen=True, tag="message_delta", tag_field="type"):
    delta: StopDelta = StopDelta()
    usage: WireUsage = WireUsage()


class MessageStop(msgspec.Struct, frozen=True, tag="message_stop", tag_field="type"):
    pass


class Ping(msgspec.Struct, frozen=True, tag="ping", tag_field="type"):
    pass


class ErrorEvent(msgspec.Struct, frozen=True, tag="error", tag_field="type"):
    error: ErrorDetail


StreamEvent = (
    MessageStart
    | ContentBlockStart
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | Ping
    | ErrorEvent
)
KNOWN_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)

encoder = msgspec.json.Encoder()
message_decoder = msgspec.json.Decoder(Message)
event_decoder: msgspec.json.Decoder[StreamEvent] = msgspec.json.Decoder(StreamEvent)
