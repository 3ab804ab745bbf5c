"""What only the Redis ledger does: one budget across replicas, key TTLs, and Redis outages."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import redis.asyncio as redis

from agent.errors import BudgetExceeded
from agent.pipeline.costing import Reservation
from agent.testing import ManualClock
from cache.errors import StoreUnavailable
from cache.redis_store import create_redis_client
from metrics.budget import BudgetGuard
from metrics.budget_errors import BudgetExhausted, BudgetUnavailable
from metrics.budget_redis import RedisBudgetLedger
from metrics.budget_windows import BudgetCaps
from tests.metrics.test_budget import NOON, Alerts, req
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def clients(redis_server: RedisServer) -> AsyncIterator[list[redis.Redis]]:
    """Two independent clients (two pools), as two replicas would have."""
    made = [create_redis_client(redis_server.url, pool_size=16, timeout_s=5.0) for _ in range(2)]
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
def own_server() -> Iterator[ControllableRedisServer]:
    """A server only this test uses, so stopping or freezing it hurts nobody else."""
    with ControllableRedisServer() as server:
        yield server


def replicas(
    clients: list[redis.Redis], namespace: str, clock: ManualClock, **kwargs: Any
) -> list[BudgetGuard]:
    return [
        BudgetGuard(
            RedisBudgetLedger(client, namespace=namespace, op_timeout_s=5.0),
            clock=clock,
            **kwargs,
        )
        for client in clients
    ]


async def hour_counters(
    client: redis.Redis, namespace: str, tenant: str | None = None
) -> tuple[int, int]:
    scope = "g" if tenant is None else f"t:{tenant}"
    spent, reserved = await client.hmget(
        f"{namespace}{{budget}}:hour:{int(NOON)}:{scope}", ["spent", "reserved"]
    )
    return int(spent or 0), int(reserved or 0)


class TestReplicas:
    async def test_two_replicas_never_commit_past_one_cap(self, clients: list[redis.Redis]) -> None:
        namespace = f"test:{uuid.uuid4().hex}:"
        cap = 10_000
        guards = replicas(
            clients, namespace, ManualClock(NOON), global_caps=BudgetCaps(hourly_usd_micros=cap)
        )
        granted: list[tuple[BudgetGuard, Reservation]] = []
        refused = 0

        async def reserve(i: int) -> None:
            nonlocal refused
            budget = guards[i % 2]
            try:
                granted.append((budget, await budget.reserve(req(), 100 + i % 11)))
            except BudgetExhausted:
                refused += 1

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(reserve, i)
        held = sum(r.reserved_usd_micros for _, r in granted)
        assert refused > 0 and {b for b, _ in granted} == set(guards)
        # Tight: every refused request saw less room than it needed, and room only shrank.
        assert cap - 110 < held <= cap
        assert await hour_counters(clients[0], namespace) == (0, held)

        rng = random.Random(5)
        actuals = [rng.randint(0, r.reserved_usd_micros) for _, r in granted]
        async with anyio.create_task_group() as tg:
            for (budget, reservation), actual in zip(granted, actuals, strict=True):
                tg.start_soon(budget.settle, reservation, actual)
        assert await hour_counters(clients[1], namespace) == (sum(actuals), 0)

    async def test_commitments_stay_within_the_cap_while_requests_come_and_go(
        self, clients: list[redis.Redis]
    ) -> None:
        namespace = f"test:{uuid.uuid4().hex}:"
        caps = {"global": 3_000, "tenant": 1_200}
        guards = replicas(
            clients,
            namespace,
            ManualClock(NOON),
            global_caps=BudgetCaps(hourly_usd_micros=caps["global"]),
            tenant_caps=BudgetCaps(hourly_usd_micros=caps["tenant"]),
        )
        settled: list[int] = []
        refused: list[int] = []
        peaks: list[int] = []
        done = anyio.Event()

        async def request(i: int) -> None:
            budget = guards[i % 2]
            try:
                reservation = await budget.reserve(req(f"t{i % 4}"), 150)
            except BudgetExhausted:
                refused.append(i)
                return
            await anyio.lowlevel.checkpoint()  # let other requests reserve meanwhile
            settled.append(i % 90)
            await budget.settle(reservation, i % 90)

        async def watch() -> None:
            while not done.is_set():
                spent, reserved = await hour_counters(clients[0], namespace)
                peaks.append(spent + reserved)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            async with anyio.create_task_group() as requests:
                for i in range(200):
                    requests.start_soon(request, i)
            done.set()
        assert refused and peaks and max(peaks) <= caps["global"]
        assert await hour_counters(clients[0], namespace) == (sum(settled), 0)
        for t in range(4):
            spent, reserved = await hour_counters(clients[0], namespace, f"t{t}")
            assert reserved == 0 and spent <= caps["tenant"]

    async def test_each_alert_fires_once_across_replicas(self, clients: list[redis.Redis]) -> None:
        namespace = f"test:{uuid.uuid4().hex}:"
        alerts = [Alerts(), Alerts()]
        clock = ManualClock(NOON)
        guards = [
            BudgetGuard(
                RedisBudgetLedger(client, namespace=namespace),
                clock=clock,
                global_caps=BudgetCaps(hourly_usd_micros=1000),
                on_alert=seen,
            )
            for client, seen in zip(clients, alerts, strict=True)
        ]
        held = [(guards[i % 2], await guards[i % 2].reserve(req(), 100)) for i in range(10)]
        async with anyio.create_task_group() as tg:
            for budget, reservation in held:
                tg.start_soon(budget.settle, reservation, 100)
        for _ in range(3):
            with pytest.raises(BudgetExhausted):
                await guards[1].reserve(req(), 1)
        fired = sorted(a.threshold_percent for seen in alerts for a in seen.seen)
        assert fired == [50, 80, 100]


class TestKeys:
    async def test_keys_are_namespaced_and_outlive_their_window_by_the_grace(
        self, clients: list[redis.Redis]
    ) -> None:
        namespace = f"test:{uuid.uuid4().hex}:"
        clock = ManualClock(NOON + 600)
        [budget, _] = replicas(
            clients,
            namespace,
            clock,
            global_caps=BudgetCaps(hourly_usd_micros=100),
            expiry_grace_s=300.0,
            on_alert=Alerts(),
        )
        await budget.settle(await budget.reserve(req(), 100, hold_id="r1"), 100)
        keys = sorted(
            k.decode() for k in await clients[0].keys(namespace + "*") if isinstance(k, bytes)
        )
        window = f"hour:{int(NOON)}:g"
        assert keys == [
            f"{namespace}{{budget}}:alert:100:{window}",
            f"{namespace}{{budget}}:alert:50:{window}",
            f"{namespace}{{budget}}:alert:80:{window}",
            f"{namespace}{{budget}}:hold:r1",  # settled: kept as long as the window
            f"{namespace}{{budget}}:{window}",
        ]
        # 50 minutes left in the hour plus 5 minutes of grace.
        for key in keys:
            assert 3_299_000 < await clients[0].pttl(key) <= 3_300_000


class TestOutage:
    async def test_fail_open_admits_unguarded_counts_and_recovers(
        self, own_server: ControllableRedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=4, timeout_s=1.0)
        clock = ManualClock(NOON)
        budget = BudgetGuard(
            RedisBudgetLedger(client, op_timeout_s=1.0),
            clock=clock,
            global_caps=BudgetCaps(hourly_usd_micros=1000),
            fail_open=True,
        )
        try:
            before = await budget.reserve(req(), 400)
            own_server.stop()
            caplog.set_level(logging.ERROR, logger="frugal.budget")
            during = await budget.reserve(req(), 5000)  # above the cap: nobody can check
            assert during == Reservation(reserved_usd_micros=5000)
            await budget.settle(before, 300)  # must not raise
            await budget.settle(during, 5000)
            assert budget.errors_total == 2
            errors = [r for r in caplog.records if r.name == "frugal.budget"]
            assert len(errors) == 1 and "admitting requests unguarded" in errors[0].getMessage()
            with pytest.raises(StoreUnavailable):  # /stats learns of the outage
                await budget.usage()

            own_server.start()  # a fresh, empty server on the same port
            await budget.reserve(req(), 1000)
            with pytest.raises(BudgetExhausted):
                await budget.reserve(req(), 1)
        finally:
            await client.aclose()

    async def test_fail_closed_refuses_while_redis_is_down(
        self, own_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=4, timeout_s=1.0)
        budget = BudgetGuard(
            RedisBudgetLedger(client, op_timeout_s=1.0),
            clock=ManualClock(NOON),
            global_caps=BudgetCaps(hourly_usd_micros=1000),
        )  # fail-closed is the default
        try:
            own_server.stop()
            with pytest.raises(BudgetUnavailable) as caught:
                await budget.reserve(req(), 1)
            assert isinstance(caught.value, BudgetExceeded)
            assert caught.value.code == "budget_exceeded" and budget.errors_total == 1
        finally:
            await client.aclose()

    async def test_a_hung_redis_times_out_within_the_op_timeout(
        self, own_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=4, timeout_s=5.0)
        clock = ManualClock(NOON)
        ledger = RedisBudgetLedger(client, op_timeout_s=0.2)
        open_guard = BudgetGuard(
            ledger, clock=clock, global_caps=BudgetCaps(hourly_usd_micros=10), fail_open=True
        )
        caps = BudgetCaps(hourly_usd_micros=10)
        closed_guard = BudgetGuard(ledger, clock=clock, global_caps=caps)
        try:
            await open_guard.reserve(req(), 1)  # connect before freezing
            own_server.pause()
            started = anyio.current_time()
            assert (await open_guard.reserve(req(), 100)).token == ""
            with pytest.raises(BudgetUnavailable):
                await closed_guard.reserve(req(), 1)
            assert anyio.current_time() - started < 2.0
        finally:
            own_server.resume()
            await client.aclose()


class TestCancellation:
    async def test_a_caller_cancelled_mid_reserve_leaves_no_hold(
        self, own_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=4, timeout_s=5.0)
        namespace = f"test:{uuid.uuid4().hex}:"
        budget = BudgetGuard(
            RedisBudgetLedger(client, namespace=namespace, op_timeout_s=5.0),
            clock=ManualClock(NOON),
            global_caps=BudgetCaps(hourly_usd_micros=1000),
        )
        caller = anyio.CancelScope()

        async def reserve() -> None:
            with caller:
                await budget.reserve(req(), 600)

        try:
            await client.ping()  # connected before the freeze
            own_server.pause()
            async with anyio.create_task_group() as tg:
                tg.start_soon(reserve)
                await anyio.sleep(0.05)  # the script is sent and waits on the frozen server
                caller.cancel()
                own_server.resume()
            assert caller.cancelled_caught
            # The script ran (the window exists) and its hold was released.
            assert await client.exists(f"{namespace}{{budget}}:hour:{int(NOON)}:g") == 1
            assert await hour_counters(client, namespace) == (0, 0)
        finally:
            own_server.resume()
            await client.aclose()


class TestSettlementsAcrossAnOutage:
    """Found by ``python -m bench faults``: a hold settled while Redis was down stayed held
    for its whole TTL, and a reservation that timed out but ran once Redis woke up was never
    released."""

    async def test_a_settlement_redis_missed_is_retried_once_it_answers(
        self, own_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=4, timeout_s=5.0)
        namespace = f"test:{uuid.uuid4().hex}:"
        clock = ManualClock(NOON)
        budget = BudgetGuard(
            RedisBudgetLedger(client, namespace=namespace, op_timeout_s=0.2),
            clock=clock,
            global_caps=BudgetCaps(hourly_usd_micros=1000),
        )
        try:
            held = await budget.reserve(req(), 900)
            own_server.pause()
            await budget.settle(held, 300)
            assert budget.unsettled == 1
            own_server.resume()
            clock.advance(2)
            await budget.settle(await budget.reserve(req(), 100), 50)
            assert budget.unsettled == 0
            assert await hour_counters(client, namespace) == (350, 0)
        finally:
            own_server.resume()
            await client.aclose()

    async def test_a_reservation_that_timed_out_is_released_when_redis_wakes_up(
        self, own_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=4, timeout_s=5.0)
        namespace = f"test:{uuid.uuid4().hex}:"
        clock = ManualClock(NOON)
        budget = BudgetGuard(
            RedisBudgetLedger(client, namespace=namespace, op_timeout_s=0.2),
            clock=clock,
            global_caps=BudgetCaps(hourly_usd_micros=1000),
            fail_open=False,
        )
        try:
            await client.ping()
            own_server.pause()
            with pytest.raises(BudgetUnavailable):
                await budget.reserve(req(), 900)  # sent, then the client gave up
            own_server.resume()
            await anyio.sleep(0.2)  # the frozen server runs the script it had received
            clock.advance(2)
            await budget.settle(await budget.reserve(req(), 100), 100)
            assert budget.unsettled == 0
            assert await hour_counters(client, namespace) == (100, 0)
        finally:
            own_server.resume()
            await client.aclose()
