"""Property tests of the hold/settle arithmetic of both budget ledgers (hypothesis).

For any interleaving of reserves, settles (at most what was held) and expiries (a replica that
dies holding money: its hold is never settled and the clock passes its TTL, and so every hold
the clock passed) across two instances, no window's spent, nor spent plus the live holds, ever
passes its cap, and once every hold is settled or expired nothing is reserved. The Redis case
runs two ledgers with their own clients (two replicas) on the session's real redis-server.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cache.redis_store import create_redis_client
from metrics.budget_ledger import BudgetLedger, MemoryBudgetLedger
from metrics.budget_redis import RedisBudgetLedger
from metrics.budget_windows import Window
from tests.metrics.test_budget import NOON
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

GLOBAL_CAP = 10_000
TENANT_CAP = 6_000
HOUR_END = NOON + 3600
# Two windows a request touches at once (global and tenant), with different caps.
WINDOWS = (
    Window("hour", None, NOON, HOUR_END, GLOBAL_CAP, HOUR_END + 60),
    Window("hour", "acme", NOON, HOUR_END, TENANT_CAP, HOUR_END + 60),
)


@dataclass(frozen=True)
class Reserve:
    instance: int
    hold: int  # index of the hold id: the same index twice is a retried reservation
    amount: int
    ttl_s: float


@dataclass(frozen=True)
class Settle:
    instance: int
    hold: int
    share: float  # actual cost as a share of what was held (0..1)


@dataclass(frozen=True)
class Expire:
    hold: int  # its replica dies: never settled; the clock moves past its expiry


Op = Reserve | Settle | Expire

_holds = st.integers(min_value=0, max_value=11)
_instances = st.integers(min_value=0, max_value=1)
OPS = st.lists(
    st.one_of(
        st.builds(
            Reserve,
            _instances,
            _holds,
            st.integers(min_value=0, max_value=4_000),
            st.floats(min_value=1.0, max_value=600.0),
        ),
        st.builds(Settle, _instances, _holds, st.floats(min_value=0.0, max_value=1.0)),
        st.builds(Expire, _holds),
    ),
    max_size=40,
)


@dataclass
class Model:
    """What the test knows: granted holds still open, and the clock."""

    now: float = NOON
    open: dict[int, tuple[int, float]] = field(default_factory=dict)  # hold -> (amount, expiry)
    done: set[int] = field(default_factory=set)  # settled or abandoned: never used again


async def check(ledger: BudgetLedger, now: float) -> list[tuple[int, int]]:
    counters = await ledger.read(WINDOWS, now)
    for window, (spent, reserved) in zip(WINDOWS, counters, strict=True):
        assert 0 <= spent <= window.cap_usd_micros
        assert reserved >= 0
        assert spent + reserved <= window.cap_usd_micros
    return counters


async def run(
    ops: Sequence[Op], instances: Sequence[BudgetLedger], prefix: str
) -> list[list[tuple[int, int]]]:
    """Play ``ops``, checking the caps after each; then settle what is open and return each
    instance's final (spent, reserved) per window."""
    model = Model()
    for op in ops:
        ledger = instances[getattr(op, "instance", 0)]
        hold_id = f"{prefix}{op.hold}"
        match op:
            case Reserve(amount=amount, ttl_s=ttl_s) if op.hold not in model.done:
                expires_at = model.now + ttl_s
                blocked = await ledger.reserve(
                    WINDOWS, amount, model.now, hold_id=hold_id, expires_at=expires_at
                )
                if not blocked and op.hold not in model.open:
                    model.open[op.hold] = (amount, expires_at)
            case Settle(share=share) if op.hold in model.open:
                amount, _ = model.open.pop(op.hold)
                model.done.add(op.hold)
                await ledger.settle(WINDOWS, hold_id, int(amount * share), model.now)
            case Expire() if op.hold in model.open:
                _, expires_at = model.open.pop(op.hold)
                model.done.add(op.hold)
                model.now = max(model.now, expires_at)
                # Every other hold the clock has passed expires with it: a live replica
                # settles long before its hold's TTL (the TTL outlasts the request deadline),
                # so only a dead one leaves a hold to expire.
                for other, (_, other_expiry) in list(model.open.items()):
                    if other_expiry <= model.now:
                        del model.open[other]
                        model.done.add(other)
            case _:
                continue
        await check(ledger, model.now)
    for hold in list(model.open):  # the rest end as settles of their whole hold
        amount, _ = model.open.pop(hold)
        await instances[hold % 2].settle(WINDOWS, f"{prefix}{hold}", amount, model.now)
    finals = [await check(ledger, model.now) for ledger in instances]
    for counters in finals:
        assert [reserved for _, reserved in counters] == [0, 0]
    return finals


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(ops=OPS)
async def test_memory_ledger_never_passes_a_cap_and_drains(ops: list[Op]) -> None:
    ledger = MemoryBudgetLedger()
    finals = await run(ops, [ledger, ledger], "h")
    for window, (spent, reserved) in zip(WINDOWS, finals[0], strict=True):
        assert reserved == 0 and 0 <= spent <= window.cap_usd_micros


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
async def test_two_redis_ledgers_never_pass_a_cap_and_drain(
    ops: list[Op], redis_server: RedisServer
) -> None:
    namespace = f"prop:{uuid.uuid4().hex}:"
    clients = [create_redis_client(redis_server.url, pool_size=2, timeout_s=2.0) for _ in "ab"]
    try:
        ledgers = [RedisBudgetLedger(c, namespace=namespace, op_timeout_s=2.0) for c in clients]
        finals = await run(ops, ledgers, "h")
        # Both replicas read the same windows from the one Redis.
        assert finals[0] == finals[1]
        for window, (spent, reserved) in zip(WINDOWS, finals[0], strict=True):
            assert reserved == 0 and 0 <= spent <= window.cap_usd_micros
    finally:
        for client in clients:
            await client.aclose()
