"""`GuardCounts`: what the guard did (redactions, injection flags), for ``/stats`` and
``/metrics``. The totals are this replica's own since it started (like the latency
percentiles); Prometheus sums replicas."""

from __future__ import annotations

from collections import Counter

import msgspec

from metrics.prometheus import GatewayMetrics


class GuardStats(msgspec.Struct, frozen=True):
    """The ``security`` object of ``/stats``: values redacted by direction and kind, and
    injection rule matches by ``source:action`` and by rule."""

    enabled: bool = False
    redacted_input: dict[str, int] = msgspec.field(default_factory=dict)
    redacted_output: dict[str, int] = msgspec.field(default_factory=dict)
    injection_flags: dict[str, int] = msgspec.field(default_factory=dict)
    injection_rules: dict[str, int] = msgspec.field(default_factory=dict)


class GuardCounts:
    """Implements the guard's observer seam (`agent.guard.GuardObserver`)."""

    def __init__(self, metrics: GatewayMetrics | None = None) -> None:
        self._metrics = metrics
        self._redacted: dict[str, Counter[str]] = {"input": Counter(), "output": Counter()}
        self._flags: Counter[str] = Counter()
        self._rules: Counter[str] = Counter()

    def redacted(self, direction: str, kind: str, count: int) -> None:
        """Count ``count`` values of ``kind`` redacted in ``direction`` (input, output)."""
        self._redacted.setdefault(direction, Counter())[kind] += count
        if self._metrics is not None:
            self._metrics.count_redacted(direction, kind, count)

    def flagged(self, source: str, rule: str, action: str) -> None:
        """Count one injection rule match."""
        self._flags[f"{source}:{action}"] += 1
        self._rules[rule] += 1
        if self._metrics is not None:
            self._metrics.count_injection_flag(source, rule, action)

    def snapshot(self) -> GuardStats:
        """The totals so far."""
        return GuardStats(
            enabled=True,
            redacted_input=dict(self._redacted["input"]),
            redacted_output=dict(self._redacted["output"]),
            injection_flags=dict(self._flags),
            injection_rules=dict(self._rules),
        )
