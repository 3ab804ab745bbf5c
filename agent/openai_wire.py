"""OpenAI Chat Completions and Embeddings wire formats, as msgspec Structs.

Only the fields Frugal reads are declared; unknown fields are ignored on decode, and ``None``
request fields are omitted on encode.
"""

from __future__ import annotations

from typing import Any

import msgspec

from agent.types import Usage


class WireMessage(msgspec.Struct, frozen=True):
    role: str
    content: str


class StreamOptions(msgspec.Struct, frozen=True):
    include_usage: bool = True


class ChatCompletionRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    messages: list[WireMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    user: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None


class PromptTokensDetails(msgspec.Struct, frozen=True):
    cached_tokens: int | None = None


class WireUsage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None

    def to_usage(self) -> Usage:
        """OpenAI's ``prompt_tokens`` already includes the cached ones."""
        details = self.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        return Usage(
            prompt=self.prompt_tokens, cached_prompt=cached, completion=self.completion_tokens
        )


class WireError(msgspec.Struct, frozen=True):
    message: str = ""
    type: str | None = None
    code: str | int | None = None


class AssistantMessage(msgspec.Struct, frozen=True):
    content: str | None = None


class Choice(msgspec.Struct, frozen=True):
    message: AssistantMessage
    index: int = 0
    finish_reason: str | None = None


class ChatCompletion(msgspec.Struct, frozen=True):
    choices: list[Choice]
    model: str = ""
    usage: WireUsage | None = None


class Delta(msgspec.Struct, frozen=True):
    content: str | None = None


class ChunkChoice(msgspec.Struct, frozen=True):
    delta: Delta = Delta()
    index: int = 0
    finish_reason: str | None = None


class ChatCompletionChunk(msgspec.Struct, frozen=True):
    choices: list[ChunkChoice] = []
    model: str = ""
    usage: WireUsage | None = None
    # Some OpenAI-compatible servers report a failure mid-stream as a data line.
    error: WireError | None = None


class EmbeddingRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    input: list[str]
    encoding_format: str = "float"
    dimensions: int | None = None


class EmbeddingItem(msgspec.Struct, frozen=True):
    embedding: list[float]
    index: int


class EmbeddingResponse(msgspec.Struct, frozen=True):
    data: list[EmbeddingItem]
    model: str = ""


encoder = msgspec.json.Encoder()
completion_decoder = msgspec.json.Decoder(ChatCompletion)
chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)
embedding_decoder = msgspec.json.Decoder(EmbeddingResponse)


def usage_from_dict(usage: dict[str, Any]) -> Usage:
    """Our `Usage` from an OpenAI ``usage`` object (decoded JSON).

    ``prompt_tokens`` already includes the cached ones. A translated Anthropic usage also
    carries ``cache_creation_input_tokens``, which is billed at the cache-write price.
    """
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        prompt=_int(usage.get("prompt_tokens")),
        cached_prompt=_int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
        cache_write=_int(usage.get("cache_creation_input_tokens")),
        completion=_int(usage.get("completion_tokens")),
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def first_choice_delta(chunk: dict[str, Any]) -> tuple[str, str | None]:
    """The plain-text view of a ``chat.completion.chunk``: choice 0's content delta and its
    finish reason ("" and None when the chunk carries neither)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return "", None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            return (content if isinstance(content, str) else ""), choice.get("finish_reason")
    return "", None
