"""The figures of a run, each against its target, from what the callers saw, what the
simulators produced, the gateways' ``/stats`` and the budget holds left in Redis."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from agent.types import Usage
from bench.faults.fleet import PRICES, TIGHT_CAP
from bench.faults.hostile import leaked
from bench.faults.outcome import Outcome
from metrics.pricing import cost_of


@dataclass(frozen=True)
class Figure:
    """One row of the table: the measured value and whether it meets its target."""

    name: str
    value: int
    target: str
    met: bool


@dataclass(frozen=True)
class Observed:
    """Everything read after the run."""

    outcomes: Sequence[Outcome]
    personal: Sequence[tuple[str, Outcome]]
    stats: Sequence[Mapping[str, Any]]  # /stats of each replica
    produced: Mapping[str, Sequence[Mapping[str, Any]]]  # sim tag -> what was produced
    live_holds: int
    hold_ttl_s: float
    sim_faults: Mapping[str, int]


def produced_cost(entries: Iterable[Mapping[str, Any]]) -> int:
    """What the simulators' answers to one request cost, priced per call as the gateway does."""
    total = 0
    for entry in entries:
        usage = Usage(
            prompt=entry["prompt_tokens"],
            completion=entry["completion_tokens"],
            cached_prompt=entry["cached_prompt_tokens"],
        )
        total += cost_of(PRICES[entry["model"]], usage)
    return total


def live_budget_holds(url: str) -> tuple[int, float]:
    """Budget holds still counting in Redis (members of a hold set not yet expired), and the
    longest time one of them still has to live."""
    client = redis.Redis.from_url(url)
    now_ms = time.time() * 1000
    count, longest = 0, 0.0
    try:
        for key in client.scan_iter(match="*budget:holds:*"):
            members: list[tuple[bytes, float]] = client.zrangebyscore(  # type: ignore[assignment]
                key, now_ms, "+inf", withscores=True
            )
            for _, expiry in members:
                count += 1
                longest = max(longest, (expiry - now_ms) / 1000)
    finally:
        client.close()
    return count, longest


def figures(seen: Observed) -> list[Figure]:
    """The table's rows, in the issue's order."""
    stats = seen.stats[0]
    # What callers saw, and what each replica counted as its own fault (a hang-up during an
    # upload logged as a 500 would show there, as no caller is left to see it).
    frugal_5xx = sum(1 for o in seen.outcomes if o.frugal_fault)
    frugal_5xx += sum(s["errors"].get("frugal", 0) for s in seen.stats)
    overspend = _overspend(seen.outcomes, stats)
    phantom = _phantom(seen, stats)
    lost = sum(s["dropped_cost_records"] + s["journal_pending"] for s in seen.stats)
    hangup = stats["by_tenant"].get("hangup", {}).get("cost_usd_micros", 0)
    reported = sum(o.cost or 0 for o in seen.outcomes if o.tenant != "hangup")
    drift = stats["cost_usd_micros"] - hangup - reported
    served = sum(1 for o in seen.outcomes if o.kind == "tight" and o.status == 200)
    leaks = sum(1 for victim, outcome in seen.personal if leaked(victim, outcome))

    def row(name: str, value: int, target: str, met: Callable[[int], bool]) -> Figure:
        return Figure(name, value, target, met(value))

    return [
        row("HTTP 5xx to clients caused by Frugal", frugal_5xx, "0", lambda v: v == 0),
        row("budget overspend, µUSD (spend − cap, any window)", overspend, "≤ 0", _le0),
        row("phantom µUSD (charged − produced)", phantom, "0", lambda v: v == 0),
        row("cost records lost after Redis came back", lost, "0", lambda v: v == 0),
        row(
            f"budget holds left after the run (longest TTL {seen.hold_ttl_s:.0f} s)",
            seen.live_holds,
            "0",
            lambda v: v == 0,
        ),
        row("/stats total − Σ per-response cost, µUSD", drift, "0 exactly", lambda v: v == 0),
        row(f"requests served under the tight cap ({TIGHT_CAP:,})", served, "≥ 45", _ge45),
        row("cross-tenant/user reads of personal data", leaks, "0", lambda v: v == 0),
    ]


def _le0(value: int) -> bool:
    return value <= 0


def _ge45(value: int) -> bool:
    return value >= 45


def _overspend(outcomes: Sequence[Outcome], stats: Mapping[str, Any]) -> int:
    # The ledger's own tight windows, and what the tight tenant's answers reported per hour.
    worst = max(
        (w["spent_usd_micros"] - w["cap_usd_micros"] for w in stats["budget"]),
        default=-TIGHT_CAP,
    )
    by_hour: defaultdict[int, int] = defaultdict(int)
    for o in outcomes:
        if o.tenant == "tight":
            by_hour[int(o.sent_at // 3600)] += o.cost or 0
    return int(max([worst, *(spent - TIGHT_CAP for spent in by_hour.values())]))


def _phantom(seen: Observed, stats: Mapping[str, Any]) -> int:
    # Per answer the caller saw; the hang-ups (no bill seen) as one sum from /stats.
    phantom = 0
    hangup_tags: list[str] = []
    for o in seen.outcomes:
        if o.tenant == "hangup":
            if o.tag is not None:
                hangup_tags.append(o.tag)
        elif o.tag is not None and o.cost:
            phantom += max(0, o.cost - produced_cost(seen.produced.get(o.tag, ())))
    hangup: int = stats["by_tenant"].get("hangup", {}).get("cost_usd_micros", 0)
    produced = sum(produced_cost(seen.produced.get(tag, ())) for tag in hangup_tags)
    return phantom + max(0, hangup - produced)


def summary(seen: Observed) -> list[str]:
    """Context lines printed above the table: what was sent and what came back."""
    kinds: Counter[tuple[str, int, str | None]] = Counter(
        (o.kind, o.status, o.code or o.stream_error) for o in seen.outcomes
    )
    lines = [f"{'caller':<14} {'status':>6}  {'code':<28} {'count':>6}"]
    for (kind, status, code), count in sorted(kinds.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        lines.append(f"{kind:<14} {status:>6}  {code or '':<28} {count:>6}")
    unpriced = [o for o in seen.outcomes if o.kind == "unpriced" and o.status == 200]
    free = sum(1 for o in unpriced if not o.cost)
    lines.append(f"unpriced-model answers: {len(unpriced)}, billed 0: {free}")
    lines.append(f"personal-data attempts: {len(seen.personal)}")
    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(seen.sim_faults.items()))
    lines.append(f"provider faults served: {faults}")
    for i, s in enumerate(seen.stats):
        errors = ", ".join(f"{fault} {count}" for fault, count in sorted(s["errors"].items()))
        lines.append(f"replica {i} /stats errors by fault: {errors}")
    lines.append(
        f"/stats: {seen.stats[0]['calls']} calls, {seen.stats[0]['cost_usd_micros']:,} µUSD, "
        f"{seen.stats[0]['fallbacks']} fallbacks, {seen.stats[0]['unpriced_calls']} unpriced"
    )
    return lines


def table(rows: Sequence[Figure]) -> str:
    """The rows as a Markdown table."""
    lines = ["| figure | value | target | met |", "|---|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.value:,} | {r.target} | {'yes' if r.met else 'NO'} |")
    return "\n".join(lines)
