"""The traffic of one run: the callers and the Redis outages, all on one clock."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp
import anyio

from bench.faults.clients import chat, complete
from bench.faults.fleet import ACME_KEY, ADA_KEY, BETA_KEY, TIGHT_KEY, Fleet
from bench.faults.hostile import (
    hang_up_streaming,
    hang_up_uploading,
    personal_data_attempts,
    slow_drip,
    wrong_key,
)
from bench.faults.outcome import Outcome
from bench.faults.plan import Plan

WARM_UP = 22  # answers of a model each replica needs before its estimated holds apply


def tight_prompt(i: int) -> str:
    """~1,000 tokens, distinct per request (the issue's ~222 micro-USD request)."""
    words = " ".join(f"item{i}x{j}" for j in range(200))
    return f"Ticket {i}: summarise these log lines: {words}"


class Run:
    """Collects every `Outcome` and the Redis events of one run."""

    def __init__(self, fleet: Fleet, plan: Plan, http: aiohttp.ClientSession) -> None:
        self.fleet = fleet
        self.plan = plan
        self.http = http
        self.outcomes: list[Outcome] = []
        self.personal: list[tuple[str, Outcome]] = []
        self.events: list[str] = []
        self._started = time.monotonic()
        self._deadline = self._started + plan.duration_s

    def base(self, i: int) -> str:
        return self.fleet.gateways[i % 2].url

    def _open(self) -> bool:
        return time.monotonic() < self._deadline

    async def warm_up(self) -> None:
        """Another tenant's answers on ``mini-clean``, so both replicas estimate its holds."""

        async def warm(first: int) -> None:
            for i in range(first, 2 * WARM_UP, 4):
                self.outcomes.append(
                    await complete(
                        self.http,
                        self.base(i),
                        BETA_KEY,
                        kind="warm",
                        tenant="beta",
                        model="mini-clean",
                        content=f"warm-up question {i}",
                        stream=False,
                    )
                )

        async with anyio.create_task_group() as group:
            for first in range(4):
                group.start_soon(warm, first)

    async def traffic(self) -> None:
        """Every caller and the Redis outages until the plan's duration is over."""
        self._started = time.monotonic()
        self._deadline = self._started + self.plan.duration_s
        async with anyio.create_task_group() as group:
            for worker in range(self.plan.workers):
                group.start_soon(self._main_worker, worker)
            group.start_soon(self._tight_worker)
            group.start_soon(self._hostile_worker)
            group.start_soon(self._redis_faults)

    async def _main_worker(self, worker: int) -> None:
        i = worker
        while self._open():
            model = "llama-local" if i % 25 == 7 else "gpt-4o-mini"
            self.outcomes.append(
                await complete(
                    self.http,
                    self.base(i),
                    ACME_KEY,
                    kind="main" if model == "gpt-4o-mini" else "unpriced",
                    tenant="acme",
                    model=model,
                    content=f"Question {worker}-{i}: how do I track parcel {i}?",
                    stream=i % 2 == 0,
                )
            )
            i += self.plan.workers

    async def _tight_worker(self) -> None:
        interval = self.plan.duration_s / self.plan.tight_requests
        for i in range(self.plan.tight_requests):
            if not self._open():
                return
            sent = time.monotonic()
            self.outcomes.append(
                await complete(
                    self.http,
                    self.base(i),
                    TIGHT_KEY,
                    kind="tight",
                    tenant="tight",
                    model="mini-clean",
                    content=tight_prompt(i),
                    stream=i % 3 == 0,
                )
            )
            await anyio.sleep(max(0.0, interval - (time.monotonic() - sent)))

    async def _hostile_worker(self) -> None:
        i = 0
        async with anyio.create_task_group() as group:
            while self._open():
                base = self.base(i)
                group.start_soon(self._record, hang_up_uploading, base)
                group.start_soon(self._record, slow_drip, base)
                group.start_soon(self._record, wrong_key, base)
                self.outcomes.append(await hang_up_streaming(self.http, base))
                self.outcomes.append(
                    await complete(
                        self.http,
                        base,
                        ACME_KEY,
                        kind="unknown_model",
                        tenant="acme",
                        model=f"gpt-imaginary-{i}",
                        content="hi",
                        stream=i % 2 == 0,
                    )
                )
                if i % 5 == 0:
                    attempts = await personal_data_attempts(self.http, base)
                    self.personal += attempts
                    self.outcomes += [outcome for _, outcome in attempts]
                    self.outcomes.append(
                        await chat(
                            self.http,
                            base,
                            {"authorization": f"Bearer {ADA_KEY}"},
                            kind="own_data",
                            tenant="acme",
                            body={"message": "Where is my order 1011?"},
                        )
                    )
                i += 1
                await anyio.sleep(self.plan.hostile_every_s)

    async def _record(self, call: Callable[[str], Awaitable[Outcome]], base: str) -> None:
        try:
            self.outcomes.append(await call(base))
        except OSError as exc:
            self.events.append(f"hostile caller failed to connect: {exc!r}")

    async def _redis_faults(self) -> None:
        redis, plan = self.fleet.redis, self.plan
        await self._sleep_until(plan.pause_at_s)
        redis.pause()
        self._note(f"Redis SIGSTOP for {plan.pause_s:g} s")
        await anyio.sleep(plan.pause_s)
        redis.resume()
        self._note("Redis SIGCONT")
        await self._sleep_until(plan.kill_at_s)
        redis.kill()
        self._note(f"Redis SIGKILL, restarted after {plan.down_s:g} s")
        await anyio.sleep(plan.down_s)
        await anyio.to_thread.run_sync(redis.start)
        self._note("Redis restarted")

    async def _sleep_until(self, offset_s: float) -> None:
        await anyio.sleep(max(0.0, self._started + offset_s - time.monotonic()))

    def _note(self, what: str) -> None:
        self.events.append(f"t={time.monotonic() - self._started:6.1f} s  {what}")
