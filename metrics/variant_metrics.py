"""A/B variants of configured agents in Prometheus' text format.

The counters live in the shared store (`agent.agents.experiments`), so every replica reports
the same fleet-wide numbers: they are exposed as gauges read at scrape time. Labels are the
agent and variant names, both from the configuration (bounded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class VariantFigures(Protocol):
    """What one variant reports (`agent.agents.experiments.VariantStats`)."""

    @property
    def agent(self) -> str: ...
    @property
    def variant(self) -> str: ...
    @property
    def requests(self) -> int: ...
    @property
    def cost_usd_micros(self) -> int: ...
    @property
    def mean_latency_ms(self) -> float | None: ...
    @property
    def cache_hits(self) -> int: ...
    @property
    def fallbacks(self) -> int: ...
    @property
    def feedback(self) -> int: ...
    @property
    def mean_score(self) -> float | None: ...


_GAUGES: tuple[tuple[str, str, Callable[[VariantFigures], float | None]], ...] = (
    ("requests", "Answers given by the variant.", lambda v: v.requests),
    ("cost_usd_micros", "What the variant's answers cost (µUSD).", lambda v: v.cost_usd_micros),
    ("mean_latency_ms", "Mean latency of the variant's answers (ms).", lambda v: v.mean_latency_ms),
    ("cache_hits", "The variant's answers served from a cache.", lambda v: v.cache_hits),
    ("fallbacks", "The variant's answers given by a fallback model.", lambda v: v.fallbacks),
    ("feedback", "Feedback scores received for the variant.", lambda v: v.feedback),
    ("mean_score", "Mean feedback score of the variant.", lambda v: v.mean_score),
)


def render_variant_metrics(variants: Sequence[VariantFigures]) -> bytes:
    """``frugal_variant_*{agent,variant}`` gauges; nothing without variants. A mean with no
    sample yet is left out rather than reported as 0."""
    if not variants:
        return b""
    lines: list[str] = []
    for name, help_text, value in _GAUGES:
        lines += [
            f"# HELP frugal_variant_{name} {help_text}",
            f"# TYPE frugal_variant_{name} gauge",
        ]
        for v in variants:
            number = value(v)
            if number is not None:
                labels = f'agent="{_escape(v.agent)}",variant="{_escape(v.variant)}"'
                lines.append(f"frugal_variant_{name}{{{labels}}} {number}")
    return ("\n".join(lines) + "\n").encode()


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
