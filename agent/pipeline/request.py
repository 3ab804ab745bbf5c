"""`ChatRequest`: what a caller asks the Answer pipeline, and the checks run before any work."""

from __future__ import annotations

from typing import get_args

import msgspec

from agent.errors import InvalidRequest
from agent.tokens import count_message_tokens
from agent.types import Message
from cache.prompt_cache import CacheMode

AUTO_MODEL = "auto"
"""``ChatRequest.model`` value that lets the router pick the tier."""


class ChatRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One question for `agent.pipeline.Agent`.

    ``messages`` is the caller's whole message list (an OpenAI-style body maps onto it; a
    ``/chat`` body is one user message). With a ``session_id`` the pipeline adds the stored
    conversation before these messages and appends the new turns afterwards. ``model`` is
    ``"auto"`` (the router decides) or a concrete model name, which bypasses routing.
    ``cache`` is the request's cache directive (``no-cache`` skips reads, ``no-store`` writes).
    ``use_tools`` false makes it a plain completion: no knowledge-base search or lookups.
    ``authenticated`` says the server authenticated the caller: ``user_id`` is then the
    verified user (None: nobody vouched for one) and personal lookups are confined to that
    user; False (auth off, the embedded demo) takes ``user_id`` as given.
    """

    messages: tuple[Message, ...]
    session_id: str | None = None
    user_id: str | None = None
    authenticated: bool = False
    tenant: str = "default"
    cache: CacheMode = "default"
    model: str = AUTO_MODEL
    temperature: float = 0.0
    max_tokens: int | None = None
    stream: bool = False
    use_tools: bool = True


class RequestLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Size limits checked by `validate_request`; ``max_prompt_tokens`` counts the messages
    the caller sent (framing included), before history and retrieved documents are added;
    ``max_completion_tokens`` caps the answer (and is the default ``max_tokens``)."""

    max_messages: int = 100
    max_prompt_tokens: int = 16_000
    max_completion_tokens: int = 1024

    def __post_init__(self) -> None:
        if min(self.max_messages, self.max_prompt_tokens, self.max_completion_tokens) < 1:
            raise ValueError("every limit must be at least 1")


def validate_request(request: ChatRequest, limits: RequestLimits, *, count_model: str) -> int:
    """Check ``request`` and return its prompt-token count (on ``count_model``'s tokenizer).

    Raises `InvalidRequest` with a stable ``reason`` on the first problem found.
    """
    if not request.messages:
        raise InvalidRequest("messages must hold at least one message", reason="no_messages")
    if len(request.messages) > limits.max_messages:
        raise InvalidRequest(
            f"{len(request.messages)} messages exceed the limit of {limits.max_messages}",
            reason="too_many_messages",
        )
    last = request.messages[-1]
    if last.role != "user":
        raise InvalidRequest("the last message must have role 'user'", reason="last_not_user")
    if not last.content.strip():
        raise InvalidRequest("the last user message is empty", reason="empty_content")
    if not 0.0 <= request.temperature <= 2.0:
        raise InvalidRequest("temperature must be between 0 and 2", reason="bad_temperature")
    if request.max_tokens is not None and request.max_tokens < 1:
        raise InvalidRequest("max_tokens must be at least 1", reason="bad_max_tokens")
    if request.max_tokens is not None and request.max_tokens > limits.max_completion_tokens:
        raise InvalidRequest(
            f"max_tokens {request.max_tokens} is above the limit of {limits.max_completion_tokens}",
            reason="max_tokens_too_large",
        )
    if request.cache not in get_args(CacheMode):
        raise InvalidRequest(f"unknown cache mode {request.cache!r}", reason="bad_cache_mode")
    tokens = count_message_tokens(request.messages, count_model)
    if tokens > limits.max_prompt_tokens:
        raise InvalidRequest(
            f"the messages hold {tokens} tokens, above the limit of {limits.max_prompt_tokens}",
            reason="prompt_too_long",
        )
    return tokens
