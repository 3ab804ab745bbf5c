"""The Messages → Chat Completions direction: requests translated, answers and streams
translated back, and what is refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.anthropic_translate import (
    EventTranslator,
    UntranslatableField,
    anthropic_to_openai_request,
    openai_to_anthropic_message,
    openai_usage_to_anthropic,
)

MODEL = "gpt-4o-mini"


def translate(**body: Any) -> dict[str, Any]:
    return anthropic_to_openai_request({"model": "x", "max_tokens": 64, **body}, model=MODEL)


class TestRequest:
    def test_system_blocks_text_image_and_sampling(self) -> None:
        out = translate(
            system=[
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Be kind."},
            ],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "QQ=="},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    ],
                }
            ],
            temperature=0.2,
            top_p=0.9,
            stop_sequences=["END"],
            metadata={"user_id": "u-1"},
            stream=True,
            cache_control={"type": "ephemeral"},
        )
        assert out["model"] == MODEL and out["max_tokens"] == 64
        assert out["messages"][0] == {"role": "system", "content": "Be brief.\n\nBe kind."}
        parts = out["messages"][1]["content"]
        assert parts[0] == {"type": "text", "text": "What is this?"}
        assert parts[1]["image_url"]["url"] == "data:image/png;base64,QQ=="
        assert parts[2]["image_url"]["url"] == "https://x/y.png"
        assert (out["temperature"], out["top_p"], out["stop"], out["user"]) == (
            0.2,
            0.9,
            ["END"],
            "u-1",
        )
        assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
        assert "cache_control" not in out and "metadata" not in out

    def test_tool_use_and_tool_result_become_tool_calls_and_tool_messages(self) -> None:
        out = translate(
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "s"},
                        {"type": "text", "text": "Let me check."},
                        {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"c": "P"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                        {"type": "text", "text": "And tomorrow?"},
                    ],
                },
            ],
            tools=[{"name": "w", "description": "weather", "input_schema": {"type": "object"}}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )
        assistant, result, follow = out["messages"][1:]
        assert assistant["content"] == "Let me check."
        assert assistant["tool_calls"] == [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "w", "arguments": '{"c":"P"}'},
            }
        ]
        assert result == {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"}
        assert follow == {"role": "user", "content": "And tomorrow?"}
        assert out["tools"][0]["function"] == {
            "name": "w",
            "parameters": {"type": "object"},
            "description": "weather",
        }
        assert out["tool_choice"] == "required" and out["parallel_tool_calls"] is False

    def test_json_schema_output_and_unknown_fields(self) -> None:
        schema = {"type": "object", "properties": {"a": {"type": "string"}}}
        out = translate(
            messages=[{"role": "user", "content": "Hi"}],
            output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "low"},
            some_future_field={"kept": True},
        )
        assert out["response_format"]["json_schema"]["schema"] == schema
        assert out["some_future_field"] == {"kept": True}
        assert "output_config" not in out

    @pytest.mark.parametrize(
        ("extra", "param"),
        [
            ({"top_k": 3}, "top_k"),
            ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
            ({"tools": [{"type": "web_search_20250305", "name": "s"}]}, "tools[0].type"),
            ({"mcp_servers": []}, "mcp_servers"),
            (
                {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
                "messages[0].content[0].type",
            ),
        ],
    )
    def test_inexpressible_fields_are_refused_by_name(
        self, extra: dict[str, Any], param: str
    ) -> None:
        body = {"messages": [{"role": "user", "content": "Hi"}], **extra}
        with pytest.raises(UntranslatableField) as caught:
            translate(**body)
        assert caught.value.param == param

    def test_disabled_thinking_is_dropped(self) -> None:
        out = translate(messages=[{"role": "user", "content": "Hi"}], thinking={"type": "disabled"})
        assert "thinking" not in out


COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "w", "arguments": '{"c":"P"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "total_tokens": 107,
        "prompt_tokens_details": {"cached_tokens": 60},
        "cache_creation_input_tokens": 10,
    },
}


class TestAnswer:
    def test_completion_becomes_a_message(self) -> None:
        message = openai_to_anthropic_message(COMPLETION, message_id="msg_1")
        assert message["id"] == "msg_1" and message["model"] == MODEL
        assert message["content"] == [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "w", "input": {"c": "P"}},
        ]
        assert message["stop_reason"] == "tool_use"
        assert message["usage"] == {
            "input_tokens": 30,
            "output_tokens": 7,
            "cache_creation_input_tokens": 10,
            "cache_read_input_tokens": 60,
        }

    @pytest.mark.parametrize(
        ("finish", "stop"), [("stop", "end_turn"), ("length", "max_tokens"), ("odd", "end_turn")]
    )
    def test_stop_reasons(self, finish: str, stop: str) -> None:
        completion = {
            **COMPLETION,
            "choices": [{"message": {"content": "x"}, "finish_reason": finish}],
        }
        assert openai_to_anthropic_message(completion, message_id="m")["stop_reason"] == stop

    def test_missing_usage_is_zero(self) -> None:
        assert openai_usage_to_anthropic(None)["input_tokens"] == 0


def chunk(delta: dict[str, Any], finish: str | None = None, **top: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **top}


class TestStream:
    def test_text_then_tool_call_then_closing(self) -> None:
        translator = EventTranslator(message_id="msg_1", model=MODEL)
        events = []
        for piece in (
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Let me "}),
            chunk({"content": "check."}),
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "c1", "function": {"name": "w", "arguments": ""}}
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"c":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"P"}'}}]}),
            chunk({}, "tool_calls"),
            {"choices": [], "usage": COMPLETION["usage"]},
        ):
            events += translator.feed(piece)
        events += translator.finish()
        names = [name for name, _ in events]
        assert names == [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        assert all(data["type"] == name for name, data in events)
        tool_start = events[6][1]
        assert tool_start["index"] == 1
        assert tool_start["content_block"] == {
            "type": "tool_use",
            "id": "c1",
            "name": "w",
            "input": {},
        }
        arguments = "".join(d["delta"]["partial_json"] for n, d in events[7:9])
        assert json.loads(arguments) == {"c": "P"}
        delta = events[-2][1]
        assert delta["delta"]["stop_reason"] == "tool_use"
        assert delta["usage"]["output_tokens"] == 7 and delta["usage"]["input_tokens"] == 30

    def test_an_empty_answer_still_opens_and_closes(self) -> None:
        translator = EventTranslator(message_id="m", model=MODEL)
        names = [name for name, _ in translator.finish()]
        assert names == ["message_start", "ping", "message_delta", "message_stop"]
        assert translator.finish() == []
