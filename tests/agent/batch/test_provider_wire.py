"""Batch lines reach a provider's batch API through the interactive endpoints' paths: native
when the protocols match, `agent.anthropic_translate` when they differ; answers come back in
the line's protocol."""

from __future__ import annotations

from typing import Any

import pytest

from agent.anthropic_translate import UntranslatableField
from agent.batch.lines import Line
from agent.batch.provider_wire import answer_shapes, provider_body

TOOL = {"name": "lookup", "description": "find", "input_schema": {"type": "object"}}
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}


def messages_line(**extra: Any) -> Line:
    body = {
        "model": "haiku",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, IMAGE]}],
        "tools": [TOOL],
        **extra,
    }
    return Line("m", body, "anthropic")


class TestProviderBody:
    def test_a_messages_line_goes_to_anthropic_as_written(self) -> None:
        line = messages_line(stream=False)
        sent = provider_body(line, upstream_model="claude-haiku-4-5", wire="anthropic")
        expected = {k: v for k, v in line.body.items() if k != "stream"}
        assert sent == {**expected, "model": "claude-haiku-4-5"}

    def test_a_messages_line_is_translated_for_an_openai_provider(self) -> None:
        sent = provider_body(messages_line(), upstream_model="gpt-4o-mini", wire="openai")
        assert sent["model"] == "gpt-4o-mini"
        assert sent["tools"][0]["function"]["name"] == "lookup"
        parts = sent["messages"][-1]["content"]
        assert {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}} in parts

    def test_a_chat_line_is_translated_for_anthropic(self) -> None:
        line = Line("c", {"model": "haiku", "messages": [{"role": "user", "content": "hi"}]})
        sent = provider_body(line, upstream_model="claude-haiku-4-5", wire="anthropic")
        assert sent["messages"] == [{"role": "user", "content": "hi"}] and "stream" not in sent
        assert sent["max_tokens"] > 0

    def test_a_field_the_other_protocol_cannot_express_names_itself(self) -> None:
        line = Line("c", {"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]})
        with pytest.raises(UntranslatableField):
            provider_body(line, upstream_model="claude-haiku-4-5", wire="anthropic")


MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 5},
}


class TestAnswerShapes:
    def test_a_native_answer_is_kept_for_a_messages_line(self) -> None:
        completion, answer = answer_shapes(MESSAGE, wire="anthropic", protocol="anthropic")
        assert answer == MESSAGE
        assert completion["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup"
        assert completion["usage"]["prompt_tokens"] == 10

    def test_an_openai_answer_becomes_a_message_for_a_messages_line(self) -> None:
        completion, _ = answer_shapes(MESSAGE, wire="anthropic", protocol="openai")
        same, answer = answer_shapes(completion, wire="openai", protocol="anthropic")
        assert same is completion
        assert answer["type"] == "message" and answer["content"][0]["type"] == "tool_use"
        assert answer["stop_reason"] == "tool_use"
