"""PromptCache: keys, scoping, TTL classes, read/write policy, invalidation, round trips."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.types import Message, Usage
from cache.keys import DEFAULT_TTL_BY_CLASS, TTL_FAQ_S
from cache.memory import MemoryTTLStore
from cache.prompt_cache import (
    CachedAnswer,
    CacheMode,
    PromptCache,
    is_cacheable,
    should_read,
    should_write,
)
from cache.redis_store import RedisTTLStore, create_redis_client
from tests.cache.test_store_contract import FakeClock
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

QUESTION = (Message("user", "What is the refund policy?"),)


def _cache(store: MemoryTTLStore | None = None, **kwargs: Any) -> PromptCache:
    # Not `store or ...`: an empty store has len() 0 and is falsy.
    store = MemoryTTLStore() if store is None else store
    return PromptCache(store, ttl_by_class=DEFAULT_TTL_BY_CLASS, **kwargs)


def _key(cache: PromptCache, **overrides: Any) -> str:
    request: dict[str, Any] = {
        "messages": QUESTION,
        "tenant": "acme",
        "model_tier": "cheap",
        "system": "You are a support agent.",
        "temperature": 0.0,
        "tools": ("kb_search", "order_status"),
    }
    request.update(overrides)
    return cache.key_for(**request)


def _answer(**overrides: Any) -> CachedAnswer:
    fields: dict[str, Any] = {
        "answer": "Refunds within 30 days.",
        "model": "gpt-4o-mini",
        "created_at": 1_700_000_000.5,
        "usage": Usage(prompt=120, cached_prompt=100, completion=12),
        "cost_usd_micros": 42,
        "sources": ["doc-refunds"],
    }
    fields.update(overrides)
    return CachedAnswer(**fields)


class TestKeys:
    def test_key_is_the_prompt_prefix_and_a_sha256(self) -> None:
        assert re.fullmatch(r"prompt:[0-9a-f]{64}", _key(_cache()))

    def test_key_hashes_the_documented_canonical_encoding(self) -> None:
        # Sorted fields, normalized text, sorted tools, float temperature, no user: if this
        # changes, old entries silently become misses, so bump PROMPT_KEY_VERSION on purpose.
        canonical = (
            b'{"messages":[["user","what is the refund policy?"]],"model_tier":"cheap",'
            b'"system":"You are a support agent.","temperature":0.0,"tenant":"acme",'
            b'"tools":["kb_search","order_status"],"user_id":null,"version":1}'
        )
        key = _key(_cache())
        assert key == _key(_cache())
        assert key == "prompt:" + hashlib.sha256(canonical).hexdigest()

    def test_tool_order_and_duplicates_do_not_matter(self) -> None:
        cache = _cache()
        assert _key(cache, tools=["order_status", "kb_search", "kb_search"]) == _key(cache)

    def test_integer_and_float_zero_temperatures_share_a_key(self) -> None:
        cache = _cache()
        assert _key(cache, temperature=0) == _key(cache, temperature=-0.0) == _key(cache)

    def test_normalized_messages_share_a_key(self) -> None:
        cache = _cache()
        messy = (Message("user", "  what is   the refund\npolicy? "),)
        assert _key(cache, messages=messy) == _key(cache)

    @pytest.mark.parametrize(
        "override",
        [
            {"tenant": "globex"},
            {"model_tier": "strong"},
            {"system": "You are a pirate."},
            {"system": None},
            {"temperature": 0.7},
            {"tools": ("kb_search",)},
            {"messages": (Message("user", "What is the refund policy?!"),)},
            {"messages": (Message("assistant", "What is the refund policy?"),)},
            {"messages": (Message("user", "Is the US store open?"),)},
            {"messages": (*QUESTION, Message("assistant", "30 days."))},
        ],
    )
    def test_anything_that_shapes_the_answer_changes_the_key(
        self, override: dict[str, Any]
    ) -> None:
        cache = _cache()
        assert _key(cache, **override) != _key(cache)

    def test_us_and_us_lowercase_do_not_collide(self) -> None:
        cache = _cache()
        upper = _key(cache, messages=(Message("user", "Is the US store open?"),))
        lower = _key(cache, messages=(Message("user", "Is the us store open?"),))
        assert upper != lower


class TestUserScoping:
    def test_personal_conversations_are_keyed_per_user(self) -> None:
        cache = _cache()
        alice = _key(cache, user_id="alice", personal=True)
        bob = _key(cache, user_id="bob", personal=True)
        assert alice != bob
        assert alice != _key(cache)

    def test_shared_conversations_ignore_the_user(self) -> None:
        cache = _cache()
        assert _key(cache, user_id="alice") == _key(cache, user_id="bob") == _key(cache)

    def test_personal_without_a_user_is_refused(self) -> None:
        with pytest.raises(ValueError, match="user_id"):
            _key(_cache(), personal=True)


class TestStoreAndLookup:
    async def test_answer_round_trips_with_class_and_tags_from_the_store_call(self) -> None:
        cache = _cache()
        key = _key(cache)
        assert await cache.lookup(key) is None
        stored = await cache.store(key, _answer(), content_class="faq", tags=["doc-refunds"])
        assert stored is True
        assert await cache.lookup(key) == _answer(content_class="faq", tags=["doc-refunds"])

    async def test_ttl_follows_the_content_class(self) -> None:
        clock = FakeClock()
        cache = _cache(MemoryTTLStore(clock=clock))
        faq, default = _key(cache, tenant="a"), _key(cache, tenant="b")
        await cache.store(faq, _answer(), content_class="faq", tags=())
        await cache.store(default, _answer(), content_class="default", tags=())
        clock.now += 3_601
        assert await cache.lookup(default) is None
        assert await cache.lookup(faq) is not None
        clock.now += TTL_FAQ_S
        assert await cache.lookup(faq) is None

    async def test_realtime_answers_are_never_stored(self) -> None:
        cache = _cache()
        key = _key(cache)
        assert await cache.store(key, _answer(), content_class="realtime", tags=()) is False
        assert await cache.lookup(key) is None

    async def test_an_unknown_class_uses_the_default_ttl(self) -> None:
        cache = _cache()
        assert cache.ttl_for("weather") == cache.ttl_for("default") == 3_600
        without_default = PromptCache(MemoryTTLStore(), ttl_by_class={"faq": 10})
        with pytest.raises(ValueError, match="weather"):
            without_default.ttl_for("weather")

    def test_negative_ttls_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="TTL"):
            PromptCache(MemoryTTLStore(), ttl_by_class={"default": -1})

    async def test_an_undecodable_entry_is_a_miss_and_is_dropped(self) -> None:
        store = MemoryTTLStore()
        cache = _cache(store)
        key = _key(cache)
        await store.set(key, b"{not json", None)
        assert await cache.lookup(key) is None
        assert await store.get(key) is None


class TestInvalidation:
    async def test_invalidate_key_drops_one_entry(self) -> None:
        cache = _cache()
        key, other = _key(cache), _key(cache, tenant="globex")
        await cache.store(key, _answer(), content_class="default", tags=())
        await cache.store(other, _answer(), content_class="default", tags=())
        assert await cache.invalidate_key(key) is True
        assert await cache.invalidate_key(key) is False
        assert await cache.lookup(key) is None
        assert await cache.lookup(other) is not None

    async def test_invalidate_tag_drops_every_answer_built_on_a_document(self) -> None:
        store = MemoryTTLStore()
        cache = _cache(store)
        a, b, c = (_key(cache, tenant=t) for t in ("a", "b", "c"))
        await cache.store(a, _answer(), content_class="faq", tags=["doc-1"])
        await cache.store(b, _answer(), content_class="faq", tags=["doc-1", "doc-2"])
        await cache.store(c, _answer(), content_class="faq", tags=["doc-2"])
        # Another component's entry with the same raw tag is not the prompt cache's to drop.
        await store.set("sem:x", b"semantic", None, tags=["doc-1"])
        assert await cache.invalidate_tag("doc-1") == 2
        assert await cache.lookup(a) is None
        assert await cache.lookup(b) is None
        assert await cache.lookup(c) is not None
        assert await store.get("sem:x") == b"semantic"


class TestPolicy:
    @pytest.mark.parametrize(
        ("mode", "temperature", "read", "write"),
        [
            ("default", 0.0, True, True),
            ("no-cache", 0.0, False, True),
            ("no-store", 0.0, True, False),
            ("default", 0.7, False, False),
        ],
    )
    def test_modes_and_temperature(
        self, mode: CacheMode, temperature: float, read: bool, write: bool
    ) -> None:
        assert should_read(mode, temperature) is read
        assert should_write(mode, temperature) is write
        cache = _cache()
        assert cache.should_read(mode, temperature) is read
        assert cache.should_write(mode, temperature) is write

    def test_nonzero_temperature_is_cached_only_when_enabled(self) -> None:
        assert is_cacheable(0) is True
        assert is_cacheable(0.2) is False
        assert is_cacheable(0.2, cache_nonzero_temperature=True) is True
        cache = _cache(cache_nonzero_temperature=True)
        assert cache.should_read("default", 0.2) is True
        assert cache.should_write("default", 0.2) is True
        assert cache.should_write("no-store", 0.2) is False


@pytest.fixture
async def redis_cache(redis_server: RedisServer) -> AsyncIterator[PromptCache]:
    client = create_redis_client(redis_server.url, pool_size=4, timeout_s=2.0)
    store = RedisTTLStore(client, namespace=f"test:{uuid.uuid4().hex}:", op_timeout_s=2.0)
    yield PromptCache(store, ttl_by_class=DEFAULT_TTL_BY_CLASS)
    await store.aclose()


async def test_prompt_cache_over_redis_round_trips_and_invalidates(
    redis_cache: PromptCache,
) -> None:
    key = _key(redis_cache)
    await redis_cache.store(key, _answer(), content_class="faq", tags=["doc-refunds"])
    assert await redis_cache.lookup(key) == _answer(content_class="faq", tags=["doc-refunds"])
    assert await redis_cache.invalidate_tag("doc-refunds") == 1
    assert await redis_cache.lookup(key) is None
