"""A Messages body as the core carries it: the text view, forwarded headers, refusals, and a
cache key apart from chat completions'."""

from __future__ import annotations

import pytest

from agent.core import InvalidParam, decode_completion_request, decode_messages_request
from agent.core.cache_policy import WireCache
from cache.keys import DEFAULT_TTL_BY_CLASS
from cache.memory import MemoryTTLStore
from cache.prompt_cache import PromptCache

BODY = (
    b'{"model":"claude-haiku-4-5","max_tokens":64,"temperature":0,"future":1,'
    b'"system":[{"type":"text","text":"Be brief."}],'
    b'"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}'
)


class TestDecode:
    def test_text_view_and_body_kept_whole(self) -> None:
        request = decode_messages_request(
            BODY, headers={"anthropic-beta": "b1", "authorization": "Bearer x"}
        )
        assert request.protocol == "anthropic" and request.raw == BODY
        assert request.body["future"] == 1
        assert [(m.role, m.content) for m in request.messages] == [
            ("system", "Be brief."),
            ("user", "Hi"),
        ]
        assert request.text_only and request.max_tokens == 64 and request.include_usage
        assert request.headers == {"anthropic-beta": "b1"}  # never the caller's credentials

    def test_blocks_other_than_text_are_not_text_only(self) -> None:
        raw = (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":'
            b'[{"type":"tool_result","tool_use_id":"t","content":"Sunny"}]}]}'
        )
        request = decode_messages_request(raw)
        assert not request.text_only and request.messages[0].content == "Sunny"

    @pytest.mark.parametrize(
        ("raw", "param"),
        [
            (b'{"model":"m","messages":[{"role":"user","content":"x"}]}', "max_tokens"),
            (
                b'{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}',
                "max_tokens",
            ),
            (b'{"model":"m","max_tokens":5,"messages":[]}', "messages"),
            (
                b'{"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}',
                "temperature",
            ),
            (
                b'{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}',
                "messages[0].role",
            ),
        ],
    )
    def test_refusals_name_the_field(self, raw: bytes, param: str) -> None:
        with pytest.raises(InvalidParam) as caught:
            decode_messages_request(raw)
        assert caught.value.param == param

    def test_count_tokens_needs_no_max_tokens(self) -> None:
        raw = b'{"model":"m","messages":[{"role":"user","content":"x"}]}'
        assert decode_messages_request(raw, counting=True).max_tokens is None


def test_cache_keys_differ_by_protocol_and_beta_header() -> None:
    cache = WireCache(PromptCache(MemoryTTLStore(), ttl_by_class=DEFAULT_TTL_BY_CLASS), None)
    chat = decode_completion_request(
        b'{"model":"claude-haiku-4-5","temperature":0,"messages":[{"role":"user","content":"Hi"}]}'
    )
    plain = decode_messages_request(
        b'{"model":"claude-haiku-4-5","temperature":0,"max_tokens":64,'
        b'"messages":[{"role":"user","content":"Hi"}]}'
    )
    beta = decode_messages_request(plain.raw or b"", headers={"anthropic-beta": "x"})
    keys = {cache.scope(r).exact_key for r in (chat, plain, beta)}
    assert len(keys) == 3 and None not in keys
