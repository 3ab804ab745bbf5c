"""Pure translation between the OpenAI Chat Completions and Anthropic Messages wires."""

from __future__ import annotations

from typing import Any

import pytest

from agent.anthropic_translate import (
    StreamError,
    StreamTranslator,
    UntranslatableField,
    anthropic_to_openai_response,
    anthropic_usage_to_openai,
    openai_to_anthropic_request,
)

MODEL = "claude-sonnet-4-5"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ANTHROPIC_WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def translate(body: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    return openai_to_anthropic_request(body, model=MODEL, default_max_tokens=1024, stream=stream)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


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


class TestUntranslatableField:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("n", 2),
            ("logprobs", True),
            ("top_logprobs", 3),
            ("logit_bias", {"50256": -100}),
            ("presence_penalty", 0.5),
            ("frequency_penalty", -1),
            ("audio", {"voice": "alloy", "format": "wav"}),
            ("modalities", ["text", "audio"]),
            ("prediction", {"type": "content", "content": "x"}),
            ("web_search_options", {}),
            ("functions", [{"name": "f", "parameters": {}}]),
            ("function_call", "auto"),
            ("temperature", 1.5),
            ("reasoning_effort", "extreme"),
        ],
    )
    def test_top_level_field_is_refused(self, field: str, value: Any) -> None:
        with pytest.raises(UntranslatableField) as info:
            translate({"messages": [user("Hi")], field: value})
        assert info.value.param == field

    @pytest.mark.parametrize(
        "response_format",
        [
            {"type": "json_object"},
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        ],
    )
    def test_structured_output_is_refused(self, response_format: dict[str, Any]) -> None:
        with pytest.raises(UntranslatableField) as info:
            translate({"messages": [user("Hi")], "response_format": response_format})
        assert info.value.param == "response_format"

    @pytest.mark.parametrize(
        ("part", "param"),
        [
            (
                {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
                "messages[1].content[1].type",
            ),
            (
                {"type": "file", "file": {"file_id": "file-abc"}},
                "messages[1].content[1].file.file_id",
            ),
            (
                {"type": "file", "file": {"file_data": "data:text/csv;base64,YSxi"}},
                "messages[1].content[1].file.file_data",
            ),
            (
                {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}},
                "messages[1].content[1].image_url.url",
            ),
            (
                {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
                "messages[1].content[1].image_url.url",
            ),
        ],
    )
    def test_user_content_part_is_refused(self, part: dict[str, Any], param: str) -> None:
        body = {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": [{"type": "text", "text": "t"}, part]},
            ]
        }
        with pytest.raises(UntranslatableField) as info:
            translate(body)
        assert info.value.param == param

    @pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]"])
    def test_tool_call_arguments_that_are_not_a_json_object_are_refused(
        self, arguments: str
    ) -> None:
        body = {
            "messages": [
                user("Hi"),
                {
                    "role": "assistant",
                    "tool_calls": [call("c0", "f", "{}"), call("c1", "f", arguments)],
                },
            ]
        }
        with pytest.raises(UntranslatableField) as info:
            translate(body)
        assert info.value.param == "messages[1].tool_calls[1].function.arguments"

    def test_non_function_tool_is_refused(self) -> None:
        body = {"messages": [user("Hi")], "tools": [WEATHER_TOOL, {"type": "custom", "custom": {}}]}
        with pytest.raises(UntranslatableField) as info:
            translate(body)
        assert info.value.param == "tools[1].type"

    def test_legacy_function_role_is_refused(self) -> None:
        body = {"messages": [user("Hi"), {"role": "function", "name": "f", "content": "x"}]}
        with pytest.raises(UntranslatableField) as info:
            translate(body)
        assert info.value.param == "messages[1].role"

    def test_non_default_temperature_with_reasoning_is_refused(self) -> None:
        body = {"messages": [user("Hi")], "reasoning_effort": "low", "temperature": 0.3}
        with pytest.raises(UntranslatableField) as info:
            translate(body)
        assert info.value.param == "temperature"

    def test_forced_tool_use_with_reasoning_is_refused(self) -> None:
        body = {
            "messages": [user("Hi")],
            "reasoning_effort": "low",
            "tools": [WEATHER_TOOL],
            "tool_choice": "required",
        }
        with pytest.raises(UntranslatableField) as info:
            translate(body)
        assert info.value.param == "tool_choice"


class TestResponse:
    def test_text_tool_use_and_usage_map_and_thinking_is_dropped(self) -> None:
        message = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [
                {"type": "thinking", "thinking": "secret reasoning", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Checking "},
                {"type": "text", "text": "both."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_b", "name": "now", "input": {}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 1000,
                "output_tokens": 40,
            },
        }
        assert anthropic_to_openai_response(message, completion_id="chatcmpl-x", created=17) == {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 17,
            "model": "claude-sonnet-4-5-20250929",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Checking both.",
                        "refusal": None,
                        "tool_calls": [
                            {
                                "id": "toolu_a",
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"city":"Paris"}',
                                },
                            },
                            {
                                "id": "toolu_b",
                                "type": "function",
                                "function": {"name": "now", "arguments": "{}"},
                            },
                        ],
                    },
                    "finish_reason": "tool_calls",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": 1210,
                "completion_tokens": 40,
                "total_tokens": 1250,
                "prompt_tokens_details": {"cached_tokens": 1000},
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 1000,
            },
        }

    def test_content_is_null_with_only_tool_calls(self) -> None:
        message = {
            "model": MODEL,
            "content": [{"type": "tool_use", "id": "t", "name": "now", "input": {}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        reply = anthropic_to_openai_response(message, completion_id="c", created=0)
        assert reply["choices"][0]["message"]["content"] is None

    @pytest.mark.parametrize(
        ("stop_reason", "finish_reason"),
        [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("pause_turn", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
        ],
    )
    def test_stop_reason_maps_to_finish_reason(self, stop_reason: str, finish_reason: str) -> None:
        message = {
            "model": MODEL,
            "content": [{"type": "text", "text": "x"}],
            "stop_reason": stop_reason,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        reply = anthropic_to_openai_response(message, completion_id="c", created=0)
        assert reply["choices"][0]["finish_reason"] == finish_reason

    def test_usage_without_cache_fields_counts_zero_cached(self) -> None:
        assert anthropic_usage_to_openai({"input_tokens": 7, "output_tokens": 3}) == {
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 0},
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }


# A realistic stream: thinking, text, then two tool_use blocks.
EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": MODEL,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 12,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 300,
                    "output_tokens": 1,
                },
            },
        },
    ),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "hmm"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "s"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Checking"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": " both."},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_a",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {"type": "tool_use", "id": "toolu_b", "name": "now", "input": {}},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 3,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 3}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 58},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def expected_deltas() -> list[tuple[dict[str, Any], str | None]]:
    return [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Checking"}, None),
        ({"content": " both."}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_b",
                        "type": "function",
                        "function": {"name": "now", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 1, "function": {"arguments": ""}}]}, None),
        ({}, "tool_calls"),
    ]


def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 99,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }


def run(translator: StreamTranslator) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    for event, data in EVENTS:
        assert not translator.finished
        chunks.extend(translator.feed(event, data))
    return chunks


class TestStreamTranslator:
    def test_text_and_two_tool_calls_without_usage(self) -> None:
        translator = StreamTranslator(completion_id="chatcmpl-s", created=99, include_usage=False)
        chunks = run(translator)
        assert chunks == [chunk(delta, finish) for delta, finish in expected_deltas()]
        assert translator.finished

    def test_include_usage_adds_a_final_usage_chunk(self) -> None:
        translator = StreamTranslator(completion_id="chatcmpl-s", created=99, include_usage=True)
        chunks = run(translator)
        assert chunks == [
            *(chunk(delta, finish, usage=None) for delta, finish in expected_deltas()),
            {
                "id": "chatcmpl-s",
                "object": "chat.completion.chunk",
                "created": 99,
                "model": MODEL,
                "choices": [],
                "usage": {
                    "prompt_tokens": 312,
                    "completion_tokens": 58,
                    "total_tokens": 370,
                    "prompt_tokens_details": {"cached_tokens": 300},
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 300,
                },
            },
        ]
        assert translator.finished

    def test_events_after_message_stop_and_unknown_events_emit_nothing(self) -> None:
        translator = StreamTranslator(completion_id="chatcmpl-s", created=99, include_usage=False)
        assert translator.feed("some_new_event", {"type": "some_new_event"}) == []
        run(translator)
        assert translator.feed("message_delta", EVENTS[-2][1]) == []

    def test_error_event_raises_stream_error(self) -> None:
        translator = StreamTranslator(completion_id="chatcmpl-s", created=99, include_usage=False)
        translator.feed(*EVENTS[0])
        with pytest.raises(StreamError) as info:
            translator.feed(
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            )
        assert (info.value.error_type, info.value.message) == ("overloaded_error", "Overloaded")
        assert not translator.finished
