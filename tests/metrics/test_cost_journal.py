"""CostJournal behind CostTracker over a real redis-server: records made while Redis is down are
journaled on disk and replayed exactly once when it answers again."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import anyio
import msgspec
import pytest
import redis.asyncio as redis

from agent.testing import ManualClock
from cache.errors import StoreUnavailable
from cache.redis_store import create_redis_client
from metrics.cost_journal import CostJournal, JournalEntry
from metrics.cost_store_redis import RedisCostStore
from metrics.cost_tracker import CallRecord, CostTracker
from tests.support.redis_server import ControllableRedisServer

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0


@pytest.fixture
def own_server() -> Iterator[ControllableRedisServer]:
    with ControllableRedisServer() as server:
        yield server


@pytest.fixture
async def client(own_server: ControllableRedisServer) -> AsyncIterator[redis.Redis]:
    client = create_redis_client(own_server.url, pool_size=2, timeout_s=1.0)
    yield client
    await client.aclose()


@pytest.fixture
def store(client: redis.Redis) -> RedisCostStore:
    return RedisCostStore(client, namespace=f"test:{uuid.uuid4().hex}:", op_timeout_s=1.0)


def tracker_with(store: RedisCostStore, journal: CostJournal) -> CostTracker:
    return CostTracker(store, clock=ManualClock(T0), journal=journal)


def call(micros: int) -> CallRecord:
    return CallRecord(model="gpt-4o", tier="strong", tenant="acme", cost_usd_micros=micros)


class FailingAfter:
    """A store that passes ``allowed`` adds through, then fails like Redis going away."""

    def __init__(self, inner: RedisCostStore, allowed: int) -> None:
        self.inner, self.allowed = inner, allowed

    async def add(
        self, names: Mapping[str, str], counters: Mapping[str, int], **kw: object
    ) -> None:
        if self.allowed == 0:
            raise StoreUnavailable("gone again")
        self.allowed -= 1
        await self.inner.add(names, counters, **kw)  # type: ignore[arg-type]


class TestOutage:
    async def test_records_made_while_down_are_journaled_and_replayed_once(
        self, own_server: ControllableRedisServer, store: RedisCostStore, tmp_path: Path
    ) -> None:
        journal = CostJournal(tmp_path, max_bytes=1 << 20)
        tracker = tracker_with(store, journal)
        await tracker.record(call(3))
        own_server.stop()
        for micros in range(1, 11):
            await tracker.record(call(micros))
        assert tracker.journal_pending == 10 and tracker.dropped_records == 0
        lines = journal.path.read_bytes().splitlines()
        assert journal.path.name == f"cost-{os.getpid()}.jsonl"
        assert [msgspec.json.decode(line)["spend_usd_micros"] for line in lines] == list(
            range(1, 11)
        )
        with pytest.raises(StoreUnavailable):
            await tracker.replay_journal()
        assert tracker.journal_pending == 10
        partial = await tracker.local_snapshot()
        assert partial.partial and partial.totals.cost_usd_micros == 3 + 55

        own_server.start()  # empty: it had no persistence
        assert await tracker.replay_journal() == 10
        assert await tracker.replay_journal() == 0
        snap = await tracker.snapshot()
        assert snap.totals.calls == 10 and snap.totals.cost_usd_micros == 55
        assert snap.by_tenant["acme"].cost_usd_micros == 55
        assert snap.window_spend_usd_micros == 55
        assert tracker.journal_pending == 0 and journal.path.read_bytes() == b""

    async def test_an_interrupted_replay_retried_counts_every_record_once(
        self, own_server: ControllableRedisServer, store: RedisCostStore, tmp_path: Path
    ) -> None:
        journal = CostJournal(tmp_path, max_bytes=1 << 20)
        own_server.stop()
        await tracker_with(store, journal).record(call(100))
        for micros in (200, 300, 400):
            await tracker_with(store, journal).record(call(micros))
        own_server.start()

        # Redis goes away again after two of the four records landed.
        with pytest.raises(StoreUnavailable):
            await tracker_with(FailingAfter(store, 2), journal).replay_journal()  # type: ignore[arg-type]
        assert journal.pending == 4
        tracker = tracker_with(store, journal)
        assert await tracker.replay_journal() == 4
        snap = await tracker.snapshot()
        assert snap.totals.calls == 4 and snap.totals.cost_usd_micros == 1000

    async def test_a_record_that_landed_despite_a_timeout_is_not_added_again(
        self, store: RedisCostStore
    ) -> None:
        kwargs = {"bucket": 1, "spend_usd_micros": 7, "bucket_ttl_s": 60.0, "now": T0}
        names = dict.fromkeys(("all", "model", "tier", "tenant", "layer"), "x")
        for _ in range(3):
            await store.add(names, {"calls": 1}, record_id="same-id", **kwargs)  # type: ignore[arg-type]
        stored = await store.read([1])
        assert stored.counters["all"]["x"]["calls"] == 1 and stored.spend[1] == 7

    async def test_a_full_journal_drops_and_counts(
        self, own_server: ControllableRedisServer, store: RedisCostStore, tmp_path: Path
    ) -> None:
        journal = CostJournal(tmp_path, max_bytes=1024)
        tracker = tracker_with(store, journal)
        own_server.stop()
        for _ in range(20):
            await tracker.record(call(1))
        kept = journal.pending
        assert 0 < kept < 20
        assert journal.dropped == 20 - kept == tracker.journal_dropped == tracker.dropped_records
        assert journal.path.stat().st_size <= 1024
        own_server.start()
        await tracker.replay_journal()
        assert (await tracker.snapshot()).totals.calls == kept


class TestRestart:
    async def test_journals_of_earlier_runs_are_replayed_and_live_ones_left_alone(
        self, store: RedisCostStore, tmp_path: Path
    ) -> None:
        dead = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
        dead_pid, live_pid = int(dead.stdout.decode()), os.getppid()
        line = msgspec.json.encode(
            JournalEntry(
                id=uuid.uuid4().hex,
                names={"all": "all", "model": "m", "tier": "t", "tenant": "x", "layer": "none"},
                counters={"calls": 1, "cost_usd_micros": 5},
                bucket=0,
                spend_usd_micros=5,
                bucket_ttl_s=60.0,
                now=T0,
            )
        )
        for pid in (dead_pid, live_pid, os.getpid()):
            (tmp_path / f"cost-{pid}.jsonl").write_bytes(line + b"\n")

        journal = CostJournal(tmp_path, max_bytes=1 << 20)
        await journal.open()
        assert journal.pending == 2  # ours from an earlier run (same pid) and the dead one's
        tracker = tracker_with(store, journal)
        assert await tracker.replay_journal() == 2
        # The two files held one record id: it counts once.
        assert (await tracker.snapshot()).totals.cost_usd_micros == 5
        assert not (tmp_path / f"cost-{dead_pid}.jsonl").exists()
        assert (tmp_path / f"cost-{live_pid}.jsonl").read_bytes() == line + b"\n"
