"""Anthropic stream events translated into OpenAI chat.completion.chunk objects."""

from __future__ import annotations

import pytest

from agent.anthropic_translate import (
    StreamError,
    StreamTranslator,
)
from tests.agent.anthropic_translate.support import (
    EVENTS,
    MODEL,
    chunk,
    expected_deltas,
    run,
)


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
