"""Deterministic answer text, its token pieces, and the pacing they are sent at.

The text for a question is a pure function of the question and the model (the best FAQ
article, a cheap/strong variant), cut into the model's real tokens so usage counts are exact.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio

from simulator.knowledge import bundled_faq
from simulator.tokens import encoding_for_model

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
# Pads answers when a fixed output length is forced.
_FILLER = (
    " If anything is still unclear, reply here and I will look into it.",
    " You can also find step-by-step guides in the Acme help centre.",
    " Our support team is available around the clock if you need more help.",
)
T = TypeVar("T")
_CHEAP_MARKERS = ("mini", "nano", "haiku", "cheap", "small")


@dataclass(frozen=True)
class Pace:
    """Streaming speed: seconds before the first piece, then pieces per second (0 = no wait)."""

    ttft_s: float = 0.0
    tokens_per_s: float = 0.0


@dataclass(frozen=True)
class PlannedAnswer:
    """The pieces (one token each) to send, why they stop, and the stop sequence that hit."""

    pieces: tuple[str, ...]
    finish_reason: str  # "stop" or "length"
    stop_sequence: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)


def compose_answer(question: str, model: str) -> str:
    """A support answer to ``question`` built from the best FAQ article; same input, same text."""
    digest = hashlib.sha256(question.strip().lower().encode()).digest()
    article = bundled_faq().best_match(question)
    if article is None:
        return _NO_MATCH
    text = f"{_OPENERS[digest[0] % len(_OPENERS)]} {article.answer}"
    if not any(marker in model.lower() for marker in _CHEAP_MARKERS):
        text += f' For more detail, see the help article "{article.title}" ({article.id}).'
    return text


def split_tokens(text: str, model: str) -> list[str]:
    """``text`` cut at the model's token boundaries; the pieces join back to ``text``."""
    enc = encoding_for_model(model)
    pieces: list[str] = []
    pending = b""
    for token_bytes in enc.decode_tokens_bytes(enc.encode_ordinary(text)):
        pending += token_bytes
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue  # a token ending inside a character joins the next one
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces


def plan_text(
    text: str,
    model: str,
    *,
    max_tokens: int | None = None,
    output_tokens: int | None = None,
    stop: Sequence[str] = (),
) -> PlannedAnswer:
    """``text`` shaped to ``output_tokens``, cut before a stop sequence, then at ``max_tokens``.

    ``output_tokens`` forces the natural length (padding or cutting, still "stop"); a stop
    sequence ends the text before it ("stop"); cutting at ``max_tokens`` reports "length".
    """
    pieces = split_tokens(text, model)
    if output_tokens is not None:
        filler = 0
        while len(pieces) < output_tokens:
            pieces += split_tokens(_FILLER[filler % len(_FILLER)], model)
            filler += 1
        pieces = pieces[:output_tokens]
    hit = _first_stop("".join(pieces), stop)
    if hit is not None:
        at, sequence = hit
        pieces = split_tokens("".join(pieces)[:at], model)
    if max_tokens is not None and len(pieces) > max_tokens:
        return PlannedAnswer(tuple(pieces[:max_tokens]), "length")
    return PlannedAnswer(tuple(pieces), "stop", sequence if hit is not None else None)


def _first_stop(text: str, stop: Sequence[str]) -> tuple[int, str] | None:
    found = [(text.find(s), s) for s in stop if s and s in text]
    return min(found) if found else None


async def paced(pieces: Iterable[T], pace: Pace) -> AsyncIterator[T]:
    """Yield ``pieces`` after ``pace.ttft_s``, then at ``pace.tokens_per_s``.

    Waits are scheduled against a fixed start so per-piece sleep overhead doesn't add up.
    No pieces (a JSON answer made of tool calls) still take ``pace.ttft_s``.
    """
    start = anyio.current_time()
    interval = 1.0 / pace.tokens_per_s if pace.tokens_per_s > 0 else 0.0
    index = -1
    for index, piece in enumerate(pieces):
        delay = start + pace.ttft_s + index * interval - anyio.current_time()
        if delay > 0:
            await anyio.sleep(delay)
        yield piece
    if index < 0 and pace.ttft_s > 0:
        await anyio.sleep(pace.ttft_s)


def continue_prefill(answer: str, prefill: str) -> str:
    """What follows an assistant ``prefill``: the rest of ``answer`` when the prefill is its
    beginning (whitespace aside), else the whole answer, spaced from the prefill.

    The prefix is never repeated, so ``prefill + continuation`` reads as one answer.
    """
    if not prefill.strip():
        return answer
    head = prefill.rstrip()
    if answer.startswith(head):
        rest = answer[len(head) :]
        # The prefill already ended in the space the rest starts with.
        return rest.lstrip() if prefill != head and rest[:1].isspace() else rest
    return answer if prefill[-1].isspace() else " " + answer
