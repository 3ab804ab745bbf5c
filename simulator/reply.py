"""What the simulated model answers, independent of the provider's wire.

One `Reply` per choice: tool calls, a refusal, or text (a knowledge-base answer, a quote of
the tool results just received, or JSON when a response format asks for it), shaped by the
caller's limits. The routes turn it into OpenAI or Anthropic events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator.answer import PlannedAnswer, compose_answer, continue_prefill, plan_text
from simulator.json_schema_instance import schema_instance
from simulator.judge import is_judge_prompt, judge_reply
from simulator.tokens import count_text_tokens
from simulator.tool_calls import PlannedCall, ToolChoice, ToolOffer, plan_calls

REFUSAL_TRIGGER = "REFUSE_ME"
FILTER_TRIGGER = "FILTER_ME"
REFUSAL_TEXT = "I can't help with that."
_REASONING_PREFIXES = ("o", "gpt-5")


@dataclass(frozen=True)
class Conversation:
    """The parts of a request the answer depends on.

    ``question`` is the last user text; ``asks`` is true when the last turn is that question
    (not tool results); ``tool_results`` are the trailing results as (label, content);
    ``prefill`` is the text of a final assistant turn, which the answer continues.
    """

    model: str
    question: str
    asks: bool
    tool_results: tuple[tuple[str, str], ...] = ()
    seed: bytes = b""
    prefill: str | None = None


@dataclass(frozen=True)
class Shape:
    """The caller's limits and format: token cap, forced length, stop sequences, JSON."""

    max_tokens: int | None = None
    output_tokens: int | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    json_object: bool = False


@dataclass(frozen=True)
class Reply:
    """One choice: text pieces, or tool calls, or a refusal; and why it finished."""

    answer: PlannedAnswer
    calls: tuple[PlannedCall, ...] = ()
    refusal: bool = False
    filtered: bool = False
    reasoning_tokens: int = 0

    @property
    def finish_reason(self) -> str:
        """OpenAI's finish reason: tool_calls, content_filter, length or stop."""
        if self.calls:
            return "tool_calls"
        return "content_filter" if self.filtered else self.answer.finish_reason

    def call_tokens(self, model: str) -> int:
        """Tokens of the calls' names and arguments."""
        return sum(
            count_text_tokens(call.name, model) + count_text_tokens(call.arguments, model)
            for call in self.calls
        )

    def completion_tokens(self, model: str) -> int:
        """Everything generated: text, calls and reasoning."""
        return self.answer.completion_tokens + self.call_tokens(model) + self.reasoning_tokens


def plan_replies(
    conversation: Conversation,
    tools: Sequence[ToolOffer],
    choice: ToolChoice,
    shape: Shape,
    *,
    count: int = 1,
    call_prefix: str = "call_",
) -> list[Reply]:
    """``count`` replies; choice ``i > 0`` adds a variant suffix so texts differ."""
    return [
        _reply(conversation, tools, choice, shape, index, call_prefix) for index in range(count)
    ]


def _reply(
    conversation: Conversation,
    tools: Sequence[ToolOffer],
    choice: ToolChoice,
    shape: Shape,
    index: int,
    call_prefix: str,
) -> Reply:
    model = conversation.model
    reasoning = _reasoning_tokens(conversation)
    if conversation.asks:
        seed = conversation.seed + b"/" + str(index).encode()
        calls = plan_calls(conversation.question, tools, choice, seed=seed, prefix=call_prefix)
        if calls:
            return Reply(plan_text("", model), tuple(calls), reasoning_tokens=reasoning)
        if REFUSAL_TRIGGER in conversation.question:
            refusal = plan_text(REFUSAL_TEXT, model)
            return Reply(refusal, refusal=True, reasoning_tokens=reasoning)
    if conversation.asks and is_judge_prompt(conversation.question):
        verdict = plan_text(judge_reply(conversation.question), model, max_tokens=shape.max_tokens)
        return Reply(verdict, reasoning_tokens=reasoning)
    if conversation.tool_results:
        quotes = [f"Based on {label}: {content}" for label, content in conversation.tool_results]
        text = " ".join(quotes)
    else:
        text = compose_answer(conversation.question, model)
        if conversation.prefill is not None:
            text = continue_prefill(text, conversation.prefill)
    if index:
        text += f" (Variant {index + 1}.)"
    forced = shape.output_tokens
    if shape.json_schema is not None:
        text, forced = json.dumps(schema_instance(shape.json_schema, text)), None
    elif shape.json_object:
        text, forced = json.dumps({"answer": text}), None
    answer = plan_text(
        text, model, max_tokens=shape.max_tokens, output_tokens=forced, stop=shape.stop
    )
    filtered = conversation.asks and FILTER_TRIGGER in conversation.question
    return Reply(answer, filtered=filtered, reasoning_tokens=reasoning)


def _reasoning_tokens(conversation: Conversation) -> int:
    # Reasoning models think a little, in proportion to the question; others not at all.
    if not conversation.model.lower().startswith(_REASONING_PREFIXES):
        return 0
    return 16 + count_text_tokens(conversation.question, conversation.model)
