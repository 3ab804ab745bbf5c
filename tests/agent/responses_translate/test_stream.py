"""Chat chunks as Responses events, and whole completions as Response objects."""

from __future__ import annotations

from typing import Any

from agent.responses_translate import ResponseContext, ResponseEvents, chat_to_response, echo_of

CONTEXT = ResponseContext("resp_1", 1700000000, echo_of({"model": "m"}))


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def call_delta(
    index: int, arguments: str, *, call_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name:
        function["name"] = name
    return {"tool_calls": [{"index": index, "id": call_id, "function": function}]}


def run(
    chunks: list[dict[str, Any]], completion: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    writer = ResponseEvents(CONTEXT, "m")
    events = writer.start()
    for c in chunks:
        events += writer.chunk(c)
    ending, response = writer.finish(completion)
    return events + ending, response


def test_text_then_two_tool_calls() -> None:
    events, response = run(
        [
            chunk({"role": "assistant", "content": "Let me "}),
            chunk({"content": "check."}),
            chunk(call_delta(0, "", call_id="c1", name="f")),
            chunk(call_delta(0, '{"a":')),
            chunk(call_delta(0, "1}")),
            chunk(call_delta(1, "{}", call_id="c2", name="g")),
            chunk({}, "tool_calls"),
            {
                "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            },
        ]
    )
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    message, first, second = response["output"]
    assert message["content"][0]["text"] == "Let me check."
    assert (first["call_id"], first["name"], first["arguments"]) == ("c1", "f", '{"a":1}')
    assert (second["call_id"], second["arguments"]) == ("c2", "{}")
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [
        0,
        1,
        2,
    ]
    assert response["usage"] == {
        "input_tokens": 3,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }


def test_length_cut_is_incomplete_and_a_refusal_is_its_own_part() -> None:
    events, response = run([chunk({"refusal": "No."}), chunk({"content": "But"}, "length")])
    assert events[-1]["type"] == "response.incomplete"
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    [message] = response["output"]
    assert message["status"] == "incomplete"
    assert message["content"][0] == {"type": "refusal", "refusal": "No."}
    assert message["content"][1]["text"] == "But"
    kinds = [e["type"] for e in events]
    assert "response.refusal.delta" in kinds and "response.refusal.done" in kinds


def test_an_empty_answer_still_has_a_message() -> None:
    events, response = run([chunk({}, "stop")])
    assert response["output"][0]["content"][0]["text"] == ""
    assert events[-1]["type"] == "response.completed"


def test_failure_events() -> None:
    writer = ResponseEvents(CONTEXT, "m")
    writer.start()
    writer.chunk(chunk({"content": "Hal"}))
    error, failed = writer.fail({"code": "stream_interrupted", "message": "cut"})
    assert error["type"] == "error" and error["code"] == "stream_interrupted"
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "stream_interrupted", "message": "cut"}


def test_whole_completion() -> None:
    completion = {
        "model": "m-2024",
        "choices": [
            {
                "index": 0,
                "finish_reason": "content_filter",
                "message": {
                    "role": "assistant",
                    "content": "Hi",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "total_tokens": 3,
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    }
    response = chat_to_response(completion, CONTEXT)
    assert response["id"] == "resp_1" and response["object"] == "response"
    assert response["model"] == "m-2024"
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "content_filter"}
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]
    assert response["output"][1]["call_id"] == "c"
    assert response["usage"]["output_tokens_details"] == {"reasoning_tokens": 1}
    assert response["store"] is True and response["tools"] == []
