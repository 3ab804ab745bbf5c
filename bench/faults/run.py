"""``python -m bench faults [--size small|full]``: the fault-injection run of issue #16.

Starts the fleet (`bench.faults.fleet`), warms the output estimate, runs the traffic with the
Redis outages (`bench.faults.traffic`), waits for every journal to drain, reads what the
simulators produced, ``/stats`` and the holds left in Redis, prints the table and returns 1
unless every figure meets its target.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from bench.faults.figures import Observed, figures, live_budget_holds, summary, table
from bench.faults.fleet import ADMIN_KEY, Fleet, running_fleet
from bench.faults.plan import PLANS, Plan
from bench.faults.traffic import Run

DRAIN_TIMEOUT_S = 30.0


async def _json(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url, headers=headers) as response:
        response.raise_for_status()
        return await response.json()


async def _stats(http: aiohttp.ClientSession, fleet: Fleet) -> list[dict[str, Any]]:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    return [await _json(http, f"{g.url}/stats", headers) for g in fleet.gateways]


async def _drained(http: aiohttp.ClientSession, fleet: Fleet) -> list[dict[str, Any]]:
    # Journals replay once Redis answers again; wait until no record waits and none is partial.
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        stats = await _stats(http, fleet)
        settled = all(s["journal_pending"] == 0 and not s["partial"] for s in stats)
        if settled or time.monotonic() > deadline:
            return stats
        await anyio.sleep(0.5)


async def _observe(run: Run) -> Observed:
    fleet, http = run.fleet, run.http
    await anyio.sleep(1.0)  # answers that were ending as the traffic stopped are recorded
    stats = await _drained(http, fleet)
    produced: dict[str, Any] = {}
    for sim in (fleet.faulty, fleet.clean):
        produced |= await _json(http, f"{sim.url}/_sim/produced", {})
    holds, ttl = await anyio.to_thread.run_sync(live_budget_holds, fleet.redis.url)
    sim = await _json(http, f"{fleet.faulty.url}/_sim/stats", {})
    return Observed(run.outcomes, run.personal, stats, produced, holds, ttl, sim["faults"])


def _dump(path: Path, seen: Observed) -> None:
    # Every outcome with what the simulators produced for it: for looking into a missed target.
    with path.open("w", encoding="utf-8") as out:
        for o in seen.outcomes:
            entry = {**dataclasses.asdict(o), "produced": seen.produced.get(o.tag or "", [])}
            out.write(json.dumps(entry) + "\n")


async def _run(plan: Plan, dump: Path | None) -> int:
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="frugal-faults-") as workdir,
        running_fleet(Path(workdir)) as fleet,
    ):
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=plan.workers + 16)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            run = Run(fleet, plan, http)
            await run.warm_up()
            await run.traffic()
            seen = await _observe(run)
    rows = figures(seen)
    if dump is not None:
        _dump(dump, seen)
    print(f"== bench faults ({plan.name}: {plan.duration_s:g} s of traffic) ==")
    print("\n".join(run.events))
    print("\n".join(summary(seen)))
    print()
    print(table(rows))
    print(f"\n({time.monotonic() - started:.1f} s in all)")
    return 0 if all(r.met for r in rows) else 1


def main(argv: list[str]) -> int:
    """Run at ``--size`` (``full`` by default); the exit code says whether every target held."""
    parser = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__)
    parser.add_argument("--size", choices=sorted(PLANS), default="full")
    parser.add_argument("--dump", type=Path, help="write every outcome to this JSON-lines file")
    args = parser.parse_args(argv)
    return anyio.run(_run, PLANS[args.size], args.dump)
