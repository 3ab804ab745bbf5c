"""OpenAI Chat Completions requests translated to Anthropic Messages: messages, system, tools and
parameters."""

from __future__ import annotations

from typing import Any

import pytest

from agent.anthropic_translate import (
    anthropic_to_openai_response,
)
from tests.agent.anthropic_translate.support import (
    ANTHROPIC_WEATHER_TOOL,
    MODEL,
    WEATHER_TOOL,
    call,
    translate,
    user,
)


class TestRequestMessages:
    def test_plain_user_message_keeps_string_content(self) -> None:
        assert translate({"model": "gpt-4o", "messages": [user("Hi")]}) == {
            "model": MODEL,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": False,
        }

    def test_two_turn_tool_conversation_round_trips(self) -> None:
        # Turn 1: the model asked for a tool; its answer is translated back to OpenAI.
        anthropic_answer = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 50, "output_tokens": 20},
        }
        openai_answer = anthropic_to_openai_response(
            anthropic_answer, completion_id="chatcmpl-1", created=1700000000
        )
        assistant = openai_answer["choices"][0]["message"]
        assert openai_answer["choices"][0]["finish_reason"] == "tool_calls"

        # Turn 2: the client sends the assistant message back with the tool result.
        body = {
            "model": "gpt-4o",
            "messages": [
                user("Weather in Paris?"),
                assistant,
                {"role": "tool", "tool_call_id": "toolu_01", "content": "18°C, sunny"},
            ],
            "tools": [WEATHER_TOOL],
        }
        assert translate(body) == {
            "model": MODEL,
            "max_tokens": 1024,
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": anthropic_answer["content"]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C, sunny"}
                    ],
                },
            ],
            "tools": [ANTHROPIC_WEATHER_TOOL],
            "stream": False,
        }

        # The final answer comes back as plain text.
        final = anthropic_to_openai_response(
            {
                "id": "msg_02",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": "It is 18°C and sunny in Paris."}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 90, "output_tokens": 12},
            },
            completion_id="chatcmpl-2",
            created=1700000001,
        )
        assert final["choices"] == [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "It is 18°C and sunny in Paris.",
                    "refusal": None,
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ]

    def test_parallel_tool_results_and_following_user_message_merge_into_one_turn(self) -> None:
        body = {
            "messages": [
                user("Weather in Paris and Rome?"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        call("call_a", "get_weather", '{"city":"Paris"}'),
                        call("call_b", "get_weather", '{"city":"Rome"}'),
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": "18°C"},
                {
                    "role": "tool",
                    "tool_call_id": "call_b",
                    "content": [{"type": "text", "text": "24°C"}],
                },
                user("Which is warmer?"),
            ]
        }
        assert translate(body)["messages"] == [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_a",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "call_b",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_a", "content": "18°C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_b",
                        "content": [{"type": "text", "text": "24°C"}],
                    },
                    {"type": "text", "text": "Which is warmer?"},
                ],
            },
        ]

    def test_tool_results_move_before_text_in_a_merged_user_turn(self) -> None:
        body = {
            "messages": [
                {"role": "assistant", "content": "", "tool_calls": [call("c1", "now", "")]},
                user("also:"),
                {"role": "tool", "tool_call_id": "c1", "content": "noon"},
            ]
        }
        assert translate(body)["messages"] == [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "c1", "name": "now", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "noon"},
                    {"type": "text", "text": "also:"},
                ],
            },
        ]

    def test_consecutive_user_messages_merge(self) -> None:
        body = {
            "messages": [
                user("one"),
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
            ]
        }
        assert translate(body)["messages"] == [
            {
                "role": "user",
                "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
            }
        ]

    def test_system_and_developer_messages_become_system_blocks_in_order(self) -> None:
        body = {
            "messages": [
                {"role": "system", "content": "Be brief."},
                user("Hi"),
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "assistant", "content": "Salut"},
                {"role": "system", "content": [{"type": "text", "text": "No emoji."}]},
                user("Encore"),
            ]
        }
        out = translate(body)
        assert out["system"] == [
            {"type": "text", "text": "Be brief."},
            {"type": "text", "text": "Answer in French."},
            {"type": "text", "text": "No emoji."},
        ]
        assert out["messages"] == [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Salut"}]},
            {"role": "user", "content": "Encore"},
        ]

    def test_images_from_data_url_and_http_url(self) -> None:
        body = {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0K"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"},
                        },
                    ],
                }
            ]
        }
        assert translate(body)["messages"][0]["content"] == [
            {"type": "text", "text": "Compare"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
            },
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ]

    def test_pdf_file_data_becomes_a_document_block(self) -> None:
        part = {
            "type": "file",
            "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
        }
        out = translate({"messages": [{"role": "user", "content": [part]}]})
        assert out["messages"][0]["content"] == [
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
            }
        ]

    def test_assistant_refusal_becomes_text(self) -> None:
        body = {
            "messages": [
                user("Do something bad"),
                {"role": "assistant", "content": None, "refusal": "I can't help with that."},
                user("OK"),
            ]
        }
        assert translate(body)["messages"][1] == {
            "role": "assistant",
            "content": [{"type": "text", "text": "I can't help with that."}],
        }


class TestRequestParameters:
    def test_sampling_stop_max_tokens_and_user_map(self) -> None:
        body = {
            "messages": [user("Hi")],
            "max_completion_tokens": 300,
            "max_tokens": 999,
            "stop": "END",
            "temperature": 0.2,
            "top_p": 0.9,
            "user": "user-42",
            "seed": 7,
            "store": True,
            "metadata": {"team": "a"},
            "service_tier": "auto",
            "stream_options": {"include_usage": True},
            "n": 1,
            "logprobs": False,
            "presence_penalty": 0,
            "frequency_penalty": 0.0,
            "response_format": {"type": "text"},
            "some_future_field": 1,
        }
        assert translate(body, stream=True) == {
            "model": MODEL,
            "max_tokens": 300,
            "messages": [{"role": "user", "content": "Hi"}],
            "stop_sequences": ["END"],
            "temperature": 0.2,
            "top_p": 0.9,
            "metadata": {"user_id": "user-42"},
            "stream": True,
        }

    def test_max_tokens_and_stop_list(self) -> None:
        out = translate({"messages": [user("Hi")], "max_tokens": 50, "stop": ["a", "b"]})
        assert (out["max_tokens"], out["stop_sequences"]) == (50, ["a", "b"])

    def test_temperature_one_is_kept(self) -> None:
        assert translate({"messages": [user("Hi")], "temperature": 1})["temperature"] == 1

    def test_tools_and_tool_choice_map(self) -> None:
        no_params = {"type": "function", "function": {"name": "now"}}
        body = {
            "messages": [user("Hi")],
            "tools": [WEATHER_TOOL, no_params],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        }
        out = translate(body)
        assert out["tools"] == [
            ANTHROPIC_WEATHER_TOOL,
            {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        ]
        assert out["tool_choice"] == {"type": "tool", "name": "get_weather"}

    @pytest.mark.parametrize(
        ("tool_choice", "expected"),
        [
            ("auto", {"type": "auto"}),
            ("required", {"type": "any"}),
            ("none", {"type": "none"}),
        ],
    )
    def test_tool_choice_strings_map(self, tool_choice: str, expected: dict[str, Any]) -> None:
        body = {"messages": [user("Hi")], "tools": [WEATHER_TOOL], "tool_choice": tool_choice}
        assert translate(body)["tool_choice"] == expected

    def test_parallel_tool_calls_false_disables_parallel_use_on_default_auto(self) -> None:
        body = {"messages": [user("Hi")], "tools": [WEATHER_TOOL], "parallel_tool_calls": False}
        assert translate(body)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}

    def test_parallel_tool_calls_false_applies_to_explicit_choice(self) -> None:
        body = {
            "messages": [user("Hi")],
            "tools": [WEATHER_TOOL],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        }
        assert translate(body)["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}

    def test_no_tool_choice_without_tools(self) -> None:
        out = translate({"messages": [user("Hi")], "tool_choice": "none", "tools": []})
        assert "tool_choice" not in out and "tools" not in out

    @pytest.mark.parametrize(
        ("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)]
    )
    def test_reasoning_effort_enables_thinking_and_raises_max_tokens(
        self, effort: str, budget: int
    ) -> None:
        out = translate({"messages": [user("Hi")], "reasoning_effort": effort})
        assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
        assert out["max_tokens"] == budget + 1024

    def test_reasoning_effort_keeps_a_max_tokens_above_the_budget(self) -> None:
        body = {"messages": [user("Hi")], "reasoning_effort": "low", "max_completion_tokens": 8000}
        assert translate(body)["max_tokens"] == 8000
