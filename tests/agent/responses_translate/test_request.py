"""Responses requests as chat bodies: items, tools, formats, refusals and pass-through."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core import InvalidParam
from agent.responses_translate import responses_to_chat


def chat(**body: Any) -> dict[str, Any]:
    return responses_to_chat({"model": "m", **body}).body


class TestInput:
    def test_items_of_every_kind(self) -> None:
        body = chat(
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Look"},
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,AA",
                            "detail": "low",
                        },
                        {
                            "type": "input_file",
                            "file_data": "data:application/pdf;base64,AA",
                            "filename": "a.pdf",
                        },
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Sure"}],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"a":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "two"}],
                },
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"role": "developer", "content": "Be brief"},
            ]
        )
        assert body["messages"] == [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AA", "detail": "low"},
                    },
                    {
                        "type": "file",
                        "file": {
                            "file_data": "data:application/pdf;base64,AA",
                            "filename": "a.pdf",
                        },
                    },
                ],
            },
            {
                "role": "assistant",
                "content": "Sure",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "g", "arguments": '{"a":1}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
            {"role": "developer", "content": "Be brief"},
        ]

    def test_a_function_call_without_an_assistant_message_opens_one(self) -> None:
        body = chat(
            input=[
                {"role": "user", "content": "Hi"},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            ]
        )
        assert body["messages"][1] == {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        }

    def test_stored_items_get_ids_and_parts(self) -> None:
        translation = responses_to_chat({"model": "m", "input": "Hi"})
        [item] = translation.input_items
        assert item["id"].startswith("msg_")
        assert item["content"] == [{"type": "input_text", "text": "Hi"}]
        assert translation.body["messages"] == [{"role": "user", "content": "Hi"}]

    def test_context_goes_after_instructions_and_before_input(self) -> None:
        context = [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "A"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "B"}],
            },
        ]
        body = responses_to_chat(
            {"model": "m", "instructions": "S", "input": "C"}, context=context
        ).body
        assert [m["content"] for m in body["messages"]] == ["S", "A", "B", "C"]


class TestOptions:
    def test_renamed_and_passed_fields(self) -> None:
        body = chat(
            input="Hi",
            tools=[
                {
                    "type": "function",
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object"},
                    "strict": True,
                }
            ],
            tool_choice="required",
            text={"format": {"type": "json_object"}, "verbosity": "low"},
            reasoning={"effort": "low", "summary": "auto"},
            max_output_tokens=7,
            temperature=0.5,
            top_p=0.9,
            user="u",
            metadata={"k": "v"},
            parallel_tool_calls=False,
            store=True,
            include=["reasoning.encrypted_content"],
            truncation="disabled",
            previous_response_id=None,
            colour="red",
            top_logprobs=2,
        )
        assert body == {
            "model": "m",
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "description": "d",
                        "parameters": {"type": "object"},
                        "strict": True,
                    },
                }
            ],
            "tool_choice": "required",
            "response_format": {"type": "json_object"},
            "verbosity": "low",
            "reasoning_effort": "low",
            "max_completion_tokens": 7,
            "temperature": 0.5,
            "top_p": 0.9,
            "user": "u",
            "parallel_tool_calls": False,
            "colour": "red",
            "logprobs": True,
            "top_logprobs": 2,
        }

    def test_stream_asks_for_usage(self) -> None:
        body = chat(input="Hi", stream=True)
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}

    def test_text_format_text_adds_nothing(self) -> None:
        assert "response_format" not in chat(input="Hi", text={"format": {"type": "text"}})

    def test_the_same_request_gives_the_same_body(self) -> None:
        request = {"model": "m", "input": [{"role": "user", "content": "Hi"}], "temperature": 0}
        assert responses_to_chat(request).body == responses_to_chat(request).body


class TestRefused:
    @pytest.mark.parametrize(
        ("body", "param"),
        [
            (
                {"input": "Hi", "tools": [{"type": "file_search", "vector_store_ids": []}]},
                "tools[0].type",
            ),
            ({"input": "Hi", "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
            ({"input": "Hi", "background": True}, "background"),
            ({"input": "Hi", "conversation": "conv_1"}, "conversation"),
            ({"input": "Hi", "prompt": {"id": "pmpt_1"}}, "prompt"),
            ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
            (
                {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
                "input[0].content[0].image_url",
            ),
            ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
            ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
            ({"input": 5}, "input"),
            ({"input": "Hi", "max_output_tokens": 0}, "max_output_tokens"),
            ({"input": "Hi", "max_output_tokens": "many"}, "max_output_tokens"),
            ({"input": []}, "input"),
            (
                {"input": "Hi", "text": {"format": {"type": "json_schema", "schema": {}}}},
                "text.format.name",
            ),
        ],
    )
    def test_untranslatable_fields_name_the_field(self, body: dict[str, Any], param: str) -> None:
        with pytest.raises(InvalidParam) as caught:
            responses_to_chat({"model": "m", **body})
        assert caught.value.param == param
