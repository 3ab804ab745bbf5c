"""RedisVerdicts: replicas on one real Redis share their verifier verdicts, and decide on
their own evidence when Redis is gone."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis.asyncio as redis

from cache.keys import VERDICT_TTL_S
from cache.normalize import normalize_text
from cache.redis_store import create_redis_client
from cache.semantic_cache import SemanticCache, entry_id
from cache.verdicts_redis import RedisVerdicts
from cache.verified_hits import PER_ENTRY, VerdictLog, score_bin
from tests.cache.test_semantic_cache import HashingEmbedder
from tests.cache.test_semantic_verified import CLOSE, STORED, ScriptedVerifier
from tests.support.redis_server import ControllableRedisServer, RedisServer, free_port

pytestmark = pytest.mark.anyio

ENTRY = entry_id("t", "p", HashingEmbedder.name, normalize_text(STORED))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Replica:
    """One "process": its own client, verdicts, verifier and cache holding the entry."""

    def __init__(self, client: redis.Redis, namespace: str, clock: FakeClock) -> None:
        self.verifier = ScriptedVerifier()
        self.verdicts = RedisVerdicts(
            client,
            VerdictLog(0.05, explore_rate=0.0),
            embedder_name=HashingEmbedder.name,
            namespace=namespace,
            op_timeout_s=0.5,
            clock=clock,
        )
        self.cache = SemanticCache(
            HashingEmbedder(),
            threshold=0.95,
            verifier=self.verifier,
            verdicts=self.verdicts,
            verify_floor=0.8,
        )

    async def lookup(self, query: str = CLOSE) -> tuple[str, bool]:
        found = await self.cache.lookup(query, tenant="t", tier="p")
        return found.reason, found.verified


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def raw(redis_server: RedisServer, namespace: str) -> AsyncIterator[redis.Redis]:
    client = create_redis_client(redis_server.url, pool_size=4, timeout_s=1.0)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{namespace}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def replica(client: redis.Redis, namespace: str, clock: FakeClock) -> Replica:
    one = Replica(client, namespace, clock)
    assert await one.cache.store(STORED, b"answer", tenant="t", tier="p", ttl_s=60)
    return one


class TestSharedVerdicts:
    async def test_a_candidate_rejected_on_one_replica_is_refused_on_another_unasked(
        self, raw: redis.Redis, namespace: str, clock: FakeClock
    ) -> None:
        a, b = await replica(raw, namespace, clock), await replica(raw, namespace, clock)
        a.verifier.answers = [False]
        assert await a.lookup() == ("verifier:rejected", True)
        assert await b.lookup() == ("verifier:refused", False)
        assert b.verifier.asked == [] and b.verdicts.log.asked == 0

    async def test_a_question_approved_on_one_replica_is_served_on_another_unasked(
        self, raw: redis.Redis, namespace: str, clock: FakeClock
    ) -> None:
        a, b = await replica(raw, namespace, clock), await replica(raw, namespace, clock)
        a.verifier.answers = [True]
        assert await a.lookup() == ("hit", True)
        assert await b.lookup() == ("hit", False)
        assert b.verifier.asked == []

    async def test_the_pooled_served_from_score_reaches_another_replica_after_the_refresh(
        self, raw: redis.Redis, namespace: str, clock: FakeClock
    ) -> None:
        a, b = await replica(raw, namespace, clock), await replica(raw, namespace, clock)
        assert await b.verdicts.decide("warm-up", 0.99) == "ask"  # B read the empty counts
        for i in range(60):  # enough clean verdicts at 0.81 to bound the error at 5 %
            await a.verdicts.record(f"other{i}", 0.81, True)
        assert a.verdicts.log.served_from() == 0.81
        clock.now = 0.5
        assert await b.verdicts.decide(ENTRY, 0.816) == "ask"  # not re-read yet
        clock.now = 1.0
        assert await b.lookup() == ("hit", False)  # CLOSE scores 0.816
        assert b.verifier.asked == []
        assert b.verdicts.log.served_from() == 0.81

    async def test_a_verdict_is_one_list_item_and_one_count_with_the_ttl(
        self, raw: redis.Redis, namespace: str, clock: FakeClock
    ) -> None:
        a = await replica(raw, namespace, clock)
        for i in range(PER_ENTRY + 5):
            await a.verdicts.record(ENTRY, 0.9, i % 2 == 0)
        key = a.verdicts.entry_key(ENTRY)
        assert key.startswith(namespace) and ENTRY in key
        assert await raw.llen(key) == PER_ENTRY
        counts = await raw.hgetall(a.verdicts.bins_key)
        bin_ = score_bin(0.9)
        assert counts == {f"r{bin_}".encode(): b"67", f"w{bin_}".encode(): b"66"}
        for k in (key, a.verdicts.bins_key):
            assert VERDICT_TTL_S * 1000 - 60_000 < await raw.pttl(k) <= VERDICT_TTL_S * 1000

    async def test_verdicts_of_another_embedder_are_not_seen(
        self, raw: redis.Redis, namespace: str, clock: FakeClock
    ) -> None:
        other = RedisVerdicts(
            raw, VerdictLog(0.05, explore_rate=0.0), embedder_name="other", namespace=namespace
        )
        await other.record(ENTRY, 0.9, False)
        for i in range(60):
            await other.record(f"e{i}", 0.81, True)
        b = await replica(raw, namespace, clock)
        assert await b.verdicts.decide(ENTRY, 0.85) == "ask"
        assert b.verdicts.log.served_from() is None


@pytest.fixture
def own_server() -> Iterator[ControllableRedisServer]:
    """A server only this test uses, so stopping it hurts nobody else."""
    with ControllableRedisServer() as server:
        yield server


class TestRedisDown:
    async def test_lookups_ask_the_verifier_and_verdicts_stay_local(
        self, namespace: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = create_redis_client(
            f"redis://127.0.0.1:{free_port()}/0", pool_size=2, timeout_s=0.2
        )
        try:
            a = await replica(client, namespace, clock)
            a.verifier.answers = [True]
            with caplog.at_level(logging.WARNING, logger="cache.verdicts_redis"):
                assert await a.lookup() == ("hit", True)  # the record that follows did not raise
                assert await a.lookup() == ("hit", False)  # its own verdict, kept locally
            assert a.verifier.asked == [(CLOSE, STORED, "t")]
            assert a.verdicts.errors_total == 3
            assert a.verdicts.errors_by_op == {"read": 2, "write": 1}
            assert "shared verdicts unavailable" in caplog.text
        finally:
            await client.aclose()

    async def test_a_wrong_verdict_not_shared_keeps_refusing_once_redis_is_back(
        self, own_server: ControllableRedisServer, namespace: str, clock: FakeClock
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=2, timeout_s=0.5)
        try:
            a = await replica(client, namespace, clock)
            for i in range(60):
                await a.verdicts.record(f"other{i}", 0.81, True)
            await anyio.to_thread.run_sync(own_server.stop)
            await a.verdicts.record(ENTRY, 0.83, False)
            await a.verdicts.record("x", 0.83, False)
            await anyio.to_thread.run_sync(own_server.start)  # empty again: nothing persisted
            clock.now = 5.0
            assert await a.verdicts.decide(ENTRY, 0.82) == "refuse"
            assert await a.verdicts.decide("new", 0.85) == "ask"  # counts read are all empty,
            right, wrong = a.verdicts.log.bins()
            assert sum(right) == 0 and wrong[score_bin(0.83)] == 2  # but the wrong ones stay
        finally:
            await client.aclose()
