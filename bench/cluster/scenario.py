"""Load through the balancer while one replica is killed (SIGKILL) and another drained
(SIGTERM with streams in flight on it); then check that no request was lost and that the
fleet's money figures are exact. Used by tests/cluster and `make cluster-test`.

Clients retry a request that failed (connection error, non-200, a stream cut short) up to
``MAX_ATTEMPTS`` times: HAProxy already re-sends what never reached a replica, so what is
left for the client are answers cut by the SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.cluster.fleet import ADMIN_KEY, API_KEY, Cluster
from bench.faults.clients import bearer, completion_body, new_tag
from bench.faults.outcome import Outcome, error_code, json_cost, read_stream

MAX_ATTEMPTS = 5
REPLICA_HEADER = "x-frugal-replica"


@dataclass
class _Live:
    """Streams whose headers came from a replica and whose body is still being read."""

    by_replica: dict[str, set[int]] = field(default_factory=dict)

    def count(self, replica: str) -> int:
        return len(self.by_replica.get(replica, ()))


@dataclass
class ScenarioResult:
    requests: int = 0
    succeeded: int = 0
    attempts: int = 0
    killed: str = ""
    drained: str = ""
    streams_in_flight_at_sigterm: int = 0
    drained_streams_completed: int = 0
    drain_exit_status: int | None = None
    served_after_sigterm_by_drained: int = 0
    client_cost_usd_micros: int = 0
    stats_cost_usd_micros: int = 0
    stats_calls: int = 0
    budget_spent_usd_micros: int = 0
    duration_s: float = 0.0
    by_replica: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.requests - self.succeeded

    def summary(self) -> str:
        return json.dumps({**self.__dict__, "lost": self.lost}, indent=2, sort_keys=True)


@dataclass
class _Run:
    cluster: Cluster
    http: aiohttp.ClientSession
    result: ScenarioResult
    live: _Live = field(default_factory=_Live)
    done: int = 0
    sigterm_at: float | None = None
    drained_stream_ids: set[int] = field(default_factory=set)
    drained_stream_ok: set[int] = field(default_factory=set)

    async def attempt(self, number: int, content: str, stream: bool) -> Outcome:
        """One request through the balancer, read to the end."""
        body = completion_body("gpt-4o-mini", content, new_tag("cluster"), stream=stream)
        outcome = Outcome("cluster", "acme")
        url = f"{self.cluster.lb.url}/v1/chat/completions"
        self.result.attempts += 1
        replica = ""
        try:
            async with self.http.post(url, json=body, headers=bearer(API_KEY)) as response:
                outcome.status = response.status
                replica = response.headers.get(REPLICA_HEADER, "")
                if stream and response.status == 200:
                    self.live.by_replica.setdefault(replica, set()).add(number)
                try:
                    text = (await response.read()).decode()
                finally:
                    self.live.by_replica.get(replica, set()).discard(number)
                header = response.headers.get("x-frugal-cost-usd-micros")
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome.text = f"connection: {exc!r}"
            return outcome
        if outcome.status != 200:
            outcome.code = error_code(text)
            outcome.cost = int(header) if header is not None else None
        elif stream:
            read_stream(outcome, text)
        else:
            outcome.cost = json_cost(json.loads(text))
        ok = outcome.status == 200 and outcome.cost is not None and outcome.stream_error is None
        if ok:
            self.result.by_replica[replica] = self.result.by_replica.get(replica, 0) + 1
            if replica == self.result.drained and self.sigterm_at is not None:
                self.result.served_after_sigterm_by_drained += 1
                if number in self.drained_stream_ids:
                    self.drained_stream_ok.add(number)
        return outcome

    async def request(self, number: int) -> None:
        stream = number % 2 == 0
        content = f"cluster question {number}: where is my parcel? ({time.time_ns()})"
        for _ in range(MAX_ATTEMPTS):
            outcome = await self.attempt(number, content, stream)
            if outcome.cost is not None:
                self.result.client_cost_usd_micros += outcome.cost
            if outcome.status == 200 and outcome.cost is not None and not outcome.stream_error:
                self.result.succeeded += 1
                break
            await asyncio.sleep(0.2)
        self.done += 1


async def run_scenario(
    cluster: Cluster, *, requests: int, concurrency: int, drain_timeout_s: float = 60
) -> ScenarioResult:
    """Send ``requests`` (half streamed) through the balancer with ``concurrency`` clients;
    SIGKILL the first replica a quarter of the way in and SIGTERM the second half-way, once
    a stream is in flight on it."""
    killed, drained = cluster.replicas[0].name, cluster.replicas[1].name
    result = ScenarioResult(requests=requests, killed=killed, drained=drained)
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        run = _Run(cluster, http, result)
        queue = iter(range(requests))

        async def client() -> None:
            for number in queue:
                await run.request(number)

        clients = [asyncio.create_task(client()) for _ in range(concurrency)]
        await _when(lambda: run.done >= requests // 4)
        cluster.signal(killed, signal.SIGKILL)
        await _when(lambda: run.done >= requests // 2 and run.live.count(drained) > 0)
        run.drained_stream_ids = set(run.live.by_replica.get(drained, set()))
        result.streams_in_flight_at_sigterm = len(run.drained_stream_ids)
        run.sigterm_at = time.monotonic()
        cluster.signal(drained, signal.SIGTERM)
        await asyncio.gather(*clients)
        result.drain_exit_status = await asyncio.to_thread(
            cluster.wait_exit, drained, drain_timeout_s
        )
        await asyncio.to_thread(cluster.wait_exit, killed, 10)
        result.drained_streams_completed = len(run.drained_stream_ok)
        await _read_stats(http, cluster, result)
    result.duration_s = round(time.monotonic() - started, 1)
    return result


async def _when(condition: Any, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the load did not get there")
        await asyncio.sleep(0.01)


async def _read_stats(
    http: aiohttp.ClientSession, cluster: Cluster, result: ScenarioResult
) -> None:
    """The fleet's figures from ``/stats`` (through the balancer; any replica answers the
    same from Redis). Records are written as answers end: read until two reads agree."""
    previous: dict[str, Any] | None = None
    for _ in range(50):
        async with http.get(f"{cluster.lb.url}/stats", headers=bearer(ADMIN_KEY)) as response:
            stats = await response.json()
        if previous is not None and stats["cost_usd_micros"] == previous["cost_usd_micros"]:
            break
        previous = stats
        await asyncio.sleep(0.2)
    result.stats_cost_usd_micros = stats["cost_usd_micros"]
    result.stats_calls = stats["calls"]
    day = [b for b in stats["budget"] if b["scope"] == "global" and b["period"] == "day"]
    result.budget_spent_usd_micros = day[0]["spent_usd_micros"] if day else -1
