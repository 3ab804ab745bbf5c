"""Wire shapes of the OpenAI-compatible API (``/v1/chat/completions``, ``/v1/models``).

Inbound: `CompletionRequest`, strict (unknown fields are a 422, like the rest of the API).
Outbound: `ChatCompletion`, `ChatCompletionChunk`, `ModelList` and `ErrorEnvelope` in OpenAI's
shapes, plus a ``frugal`` extension object (cost, savings, cache, route) that the official
SDKs keep as an extra attribute. `agent.openai_wire` describes the *client* side of the same
API (lenient decode, only the fields we read), so its structs are not reused here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from agent.types import Usage

MAX_USER_CHARS = 200

# -- request --------------------------------------------------------------------------------


class TextPart(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", tag="text"
):
    """A ``{"type": "text", "text": ...}`` content part; any other part type fails to decode."""

    text: str


class InboundMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One message of the request. ``developer`` is OpenAI's newer name for ``system``;
    ``name`` is accepted and ignored (the pipeline has no per-participant names)."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        """The content as one string (text parts joined by newlines)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class StreamOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    include_usage: bool = False


class CompletionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /v1/chat/completions``.

    Honoured: messages, model (``auto`` lets the router choose), stream, stream_options,
    temperature, max_tokens / max_completion_tokens, user, n (1 only).
    Tolerated and ignored, because SDKs and frameworks send them with neutral values:
    top_p (1 only), presence_penalty and frequency_penalty (0 only), logprobs (false only)
    and seed (any value; answers at temperature 0 are already reproducible or cached).
    A non-neutral value of those is rejected rather than silently ignored.
    """

    messages: list[InboundMessage]
    model: str = "auto"
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    user: Annotated[str, msgspec.Meta(max_length=MAX_USER_CHARS)] | None = None
    n: int | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logprobs: bool | None = None
    seed: int | None = None


# -- responses ------------------------------------------------------------------------------


class PromptTokensDetails(msgspec.Struct, frozen=True):
    cached_tokens: int = 0


class CompletionUsage(msgspec.Struct, frozen=True):
    """OpenAI's usage object; ``prompt_tokens`` includes the cached ones."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = msgspec.field(default_factory=PromptTokensDetails)

    @classmethod
    def of(cls, usage: Usage) -> CompletionUsage:
        """OpenAI's usage for the gateway's `Usage`."""
        return cls(
            prompt_tokens=usage.prompt,
            completion_tokens=usage.completion,
            total_tokens=usage.total,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_prompt),
        )


class FrugalInfo(msgspec.Struct, frozen=True):
    """The gateway's extension: what the request cost and saved, where the answer came from.

    ``cache`` is ``exact``, ``semantic`` or ``miss``; ``route`` the tier (``cheap``,
    ``strong``, ``explicit`` or ``cache``). Money is integer micro-USD.
    """

    cost_usd_micros: int
    cost_known: bool
    saved_usd_micros: int
    cache: str
    route: str
    request_id: str


class AssistantMessage(msgspec.Struct, frozen=True):
    content: str
    role: Literal["assistant"] = "assistant"
    refusal: None = None


class Choice(msgspec.Struct, frozen=True):
    message: AssistantMessage
    finish_reason: str = "stop"
    index: int = 0
    logprobs: None = None


class ChatCompletion(msgspec.Struct, frozen=True):
    """A whole answer (``stream`` false)."""

    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    frugal: FrugalInfo
    object: Literal["chat.completion"] = "chat.completion"
    system_fingerprint: str | None = None


class Delta(msgspec.Struct, frozen=True):
    """A chunk's delta; unset fields are left out (the finish chunk's delta is ``{}``)."""

    role: Literal["assistant"] | UnsetType = UNSET
    content: str | UnsetType = UNSET


class ChunkChoice(msgspec.Struct, frozen=True):
    delta: Delta
    finish_reason: str | None = None
    index: int = 0
    logprobs: None = None


class ChatCompletionChunk(msgspec.Struct, frozen=True):
    """One streamed chunk. With ``include_usage`` every chunk carries ``usage`` (null until
    the last, choice-less chunk); otherwise the field is absent, as OpenAI does."""

    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    system_fingerprint: str | None = None
    usage: CompletionUsage | UnsetType | None = UNSET
    frugal: FrugalInfo | UnsetType = UNSET


class ModelCard(msgspec.Struct, frozen=True):
    id: str
    owned_by: str
    created: int = 0
    object: Literal["model"] = "model"


class ModelList(msgspec.Struct, frozen=True):
    data: list[ModelCard]
    object: Literal["list"] = "list"


class ErrorDetail(msgspec.Struct, frozen=True):
    """The gateway's ``{"code", "message"}`` plus OpenAI's ``type`` and ``param``."""

    code: str
    message: str
    type: str
    param: str | None = None


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorDetail


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


request_decoder = msgspec.json.Decoder(CompletionRequest)
encoder = msgspec.json.Encoder()
