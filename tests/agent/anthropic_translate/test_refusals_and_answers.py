"""Fields Anthropic cannot express are refused by name; Anthropic answers come back in OpenAI's
shape."""

from __future__ import annotations

from typing import Any

import pytest

from agent.anthropic_translate import (
    UntranslatableField,
    anthropic_to_openai_response,
    anthropic_usage_to_openai,
)
from tests.agent.anthropic_translate.support import (
    MODEL,
    WEATHER_TOOL,
    call,
    translate,
    user,
)


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
