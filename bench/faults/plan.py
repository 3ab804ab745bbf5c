"""How big a run is: the small size `make test` runs, and the full size of `make faults`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Durations in seconds from the start of the traffic phase."""

    name: str
    duration_s: float
    workers: int  # concurrent well-behaved callers of the main tenant
    pause_at_s: float  # Redis SIGSTOP ...
    pause_s: float  # ... for this long (then SIGCONT)
    kill_at_s: float  # Redis SIGKILL ...
    down_s: float  # ... and restarted after this long
    tight_requests: int  # most requests the tight-budget tenant sends
    hostile_every_s: float  # one round of hostile callers this often


SMALL = Plan(
    name="small",
    duration_s=25.0,
    workers=4,
    pause_at_s=5.0,
    pause_s=3.0,
    kill_at_s=15.0,
    down_s=2.0,
    tight_requests=100,
    hostile_every_s=2.0,
)
FULL = Plan(
    name="full",
    duration_s=150.0,
    workers=12,
    pause_at_s=30.0,
    pause_s=10.0,
    kill_at_s=90.0,
    down_s=5.0,
    tight_requests=200,
    hostile_every_s=1.0,
)
PLANS = {plan.name: plan for plan in (SMALL, FULL)}
