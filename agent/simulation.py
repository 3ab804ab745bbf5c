"""Deterministic answers and pacing shared by the in-process and the HTTP simulators.

The answer for a conversation is a pure function of its last user message and the model, so
tests and benchmarks see the same text every time; pieces are single tokens of the model's
real encoding, so every count the simulators report matches `agent.tokens`.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import anyio

from agent.knowledge import KnowledgeBase
from agent.tokens import count_message_tokens, encoding_for_model
from agent.types import Message

_OPENERS = (
    "Thanks for reaching out.",
    "Happy to help with that.",
    "Good question.",
    "Thanks for your message.",
)
_NO_MATCH = (
    "I'm sorry, I couldn't find anything about that in the Acme help centre. Could you share a"
    " bit more detail, such as your order number or the exact error message you see? With that"
    " I can point you to the right answer or pass your question to a specialist."
)
# Used only to pad answers when a fixed output length is forced.
_FILLER = (
    " If anything is still unclear, reply here and I will look into it.",
    " You can also find step-by-step guides in the Acme help centre.",
    " Our support team is available around the clock if you need more help.",
)
# The cheap tier gives the bare answer; others add a pointer to the article, so the strong
# tier's answers are a little longer, as they tend to be in practice.
_CHEAP_MARKERS = ("mini", "nano", "haiku", "cheap", "small")


@dataclass(frozen=True)
class Pace:
    """Streaming speed: seconds before the first piece, then pieces per second (0 = no wait)."""

    ttft_s: float = 0.0
    tokens_per_s: float = 0.0


@dataclass(frozen=True)
class PlannedAnswer:
    """The pieces (one token each) a simulator will send and why it stops."""

    pieces: tuple[str, ...]
    finish_reason: str  # "stop" or "length"

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)


def last_user_text(messages: Sequence[Message]) -> str:
    """Content of the last user turn, or "" when there is none."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    return ""


def compose_answer(question: str, model: str, knowledge: KnowledgeBase | None = None) -> str:
    """A support answer to ``question`` built from the best KB entry; same input, same text."""
    kb = knowledge or KnowledgeBase.load_default()
    digest = hashlib.sha256(question.strip().lower().encode()).digest()
    entry = kb.best_match(question)
    if entry is None:
        return _NO_MATCH
    opener = _OPENERS[digest[0] % len(_OPENERS)]
    text = f"{opener} {entry.answer}"
    if not any(marker in model.lower() for marker in _CHEAP_MARKERS):
        text += f' For more detail, see the help article "{entry.title}" ({entry.id}).'
    return text


def split_tokens(text: str, model: str) -> list[str]:
    """``text`` cut at the model's token boundaries; pieces join back to ``text`` exactly.

    A token that ends inside a multi-byte character is merged with the next one, so a piece
    may hold two tokens in rare cases; ASCII text always gives one token per piece.
    """
    enc = encoding_for_model(model)
    pieces: list[str] = []
    pending = b""
    for token_bytes in enc.decode_tokens_bytes(enc.encode_ordinary(text)):
        pending += token_bytes
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces


def plan_answer(
    messages: Sequence[Message],
    model: str,
    *,
    max_tokens: int | None = None,
    output_tokens: int | None = None,
    knowledge: KnowledgeBase | None = None,
) -> PlannedAnswer:
    """The answer to the conversation, shaped to ``output_tokens`` and cut at ``max_tokens``.

    ``output_tokens`` forces the natural length (padding or cutting, still "stop");
    ``max_tokens`` is the caller's limit and cutting there reports "length".
    """
    text = compose_answer(last_user_text(messages), model, knowledge)
    pieces = split_tokens(text, model)
    if output_tokens is not None:
        filler = 0
        while len(pieces) < output_tokens:
            pieces += split_tokens(_FILLER[filler % len(_FILLER)], model)
            filler += 1
        pieces = pieces[:output_tokens]
    if max_tokens is not None and len(pieces) > max_tokens:
        return PlannedAnswer(tuple(pieces[:max_tokens]), "length")
    return PlannedAnswer(tuple(pieces), "stop")


def prompt_tokens(messages: Iterable[Message], model: str, system: str | None = None) -> int:
    """Prompt tokens as the simulators bill them (`agent.tokens.count_message_tokens`)."""
    return count_message_tokens(messages, model, system=system)


async def paced(pieces: Iterable[str], pace: Pace) -> AsyncIterator[str]:
    """Yield ``pieces`` after ``pace.ttft_s``, then at ``pace.tokens_per_s``.

    Waits are scheduled against a fixed start time so per-piece sleep overhead doesn't
    accumulate into a slower rate than configured.
    """
    start = anyio.current_time()
    interval = 1.0 / pace.tokens_per_s if pace.tokens_per_s > 0 else 0.0
    for index, piece in enumerate(pieces):
        due = start + pace.ttft_s + index * interval
        delay = due - anyio.current_time()
        if delay > 0:
            await anyio.sleep(delay)
        yield piece
