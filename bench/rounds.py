"""Rotated rounds: the same closed loop against several servers (direct, Frugal, an earlier
Frugal), round after round with the order rotated so machine noise hits each of them, the
serving process's CPU and the load generator's own CPU added up per variant."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from bench.gateway_process import RoundTotals, cpu_seconds
from bench.lean_http import lean_closed_loop


class Target(NamedTuple):
    """One server to load: the URL, the headers to send, the PID whose CPU counts, and its
    own request bodies (None: the bodies every target shares)."""

    url: str
    headers: Mapping[str, str]
    pid: int
    bodies: Sequence[bytes] | None = None


async def rotated_rounds(
    targets: Mapping[str, Target],
    bodies: Sequence[bytes],
    *,
    rounds: int,
    round_s: float,
    concurrency: Sequence[int],
    warmup_s: float,
) -> dict[tuple[int, str], RoundTotals]:
    """Totals per (concurrency, variant), each server warmed up first (lazy imports paid)."""
    variants = list(targets)
    totals = {(c, v): RoundTotals() for c in concurrency for v in variants}
    for c in concurrency:
        for target in targets.values():
            await lean_closed_loop(
                target.url,
                target.bodies or bodies,
                headers=target.headers,
                concurrency=c,
                duration_s=warmup_s,
            )
        for r in range(rounds):
            shift = r % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                target = targets[variant]
                cpu_before, client_before = cpu_seconds(target.pid), time.process_time()
                sample = await lean_closed_loop(
                    target.url,
                    target.bodies or bodies,
                    headers=target.headers,
                    concurrency=c,
                    duration_s=round_s,
                )
                totals[(c, variant)].add(
                    sample,
                    cpu_s=cpu_seconds(target.pid) - cpu_before,
                    client_cpu_s=time.process_time() - client_before,
                )
    return totals
