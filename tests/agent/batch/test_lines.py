"""Batch lines in and out: input validation, provider files, rendering in input order."""

from __future__ import annotations

import json

from agent.batch.lines import Line, failed, parse_input, provider_jsonl, provider_results, render
from agent.batch.provider_wire import URLS, provider_body
from agent.batch.wire import LineResult

ENDPOINT = "/v1/chat/completions"


def line(custom_id: str, **extra: object) -> bytes:
    item = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": {"model": "m"}}
    return json.dumps({**item, **extra}).encode()


class TestParseInput:
    def test_good_lines_are_kept_in_order_and_blank_lines_skipped(self) -> None:
        lines, problems = parse_input(line("a") + b"\n\n" + line("b") + b"\n", ENDPOINT)
        assert problems == []
        assert [item.custom_id for item in lines] == ["a", "b"]

    def test_every_kind_of_bad_line_is_named(self) -> None:
        content = b"\n".join(
            [
                b"{not json",
                json.dumps({"method": "POST"}).encode(),
                line("a"),
                line("a"),
                line("b", url="/v1/embeddings"),
                line("c", body=[1]),
            ]
        )
        _, problems = parse_input(content, ENDPOINT)
        assert [p.split(":")[0] for p in problems] == [
            "line 1",
            "line 2",
            "line 4",
            "line 5",
            "line 6",
        ]

    def test_an_empty_file_is_refused(self) -> None:
        assert parse_input(b"\n", ENDPOINT)[1] == ["the input file holds no requests"]


class TestProviderFiles:
    def test_the_provider_gets_its_own_model_name_and_the_callers_ids(self) -> None:
        line = Line("x", {"model": "alias", "temperature": 0, "stream": False})
        body = provider_body(line, upstream_model="gpt-4o-mini", wire="openai")
        sent = json.loads(provider_jsonl([("x", body)], URLS["openai"]))
        assert sent["custom_id"] == "x" and sent["url"] == "/v1/chat/completions"
        assert sent["body"] == {"model": "gpt-4o-mini", "temperature": 0}

    def test_answers_and_errors_map_back_to_custom_ids(self) -> None:
        content = b"\n".join(
            [
                json.dumps(
                    {"custom_id": "ok", "response": {"status_code": 200, "body": {"id": "c"}}}
                ).encode(),
                json.dumps({"custom_id": "bad", "response": None, "error": {"code": "x"}}).encode(),
                b"torn {",
            ]
        )
        assert provider_results(content) == {
            "ok": (200, {"id": "c"}),
            "bad": (500, {"error": {"code": "x"}}),
        }


def test_render_splits_output_and_errors_in_input_order() -> None:
    lines = [Line("b", {}), Line("a", {}), Line("c", {})]
    results = {
        "a": LineResult("a", "completed", "cache", 200, {"id": "1"}),
        "b": LineResult("b", "completed", "provider_batch", 200, {"id": "2"}),
        "c": failed("c", "batch_cancelled", "the batch was cancelled", status="cancelled"),
    }
    output, errors = render(lines, results)
    assert [json.loads(x)["custom_id"] for x in output.splitlines()] == ["b", "a"]
    error = json.loads(errors)
    assert error["response"] is None and error["error"]["code"] == "batch_cancelled"
