"""The batch lane in Prometheus' text format. Its totals live in the shared store (every
replica reports the same numbers), so they are exposed as gauges read at scrape time."""

from __future__ import annotations

from collections.abc import Mapping

_SOURCES = (
    ("cache_hits", "cache"),
    ("provider_batched", "provider_batch"),
    ("deferred", "deferred"),
)


def render_batch_metrics(stats: Mapping[str, int]) -> bytes:
    """``frugal_batch_*`` gauges for the lane's totals (`agent.batch.wire.BatchStats` fields
    plus ``saved_usd_micros``)."""
    lines = [
        "# HELP frugal_batch_lines Batch lines ended, by outcome.",
        "# TYPE frugal_batch_lines gauge",
        f'frugal_batch_lines{{outcome="completed"}} {stats["completed"]}',
        f'frugal_batch_lines{{outcome="failed"}} {stats["failed"]}',
        f'frugal_batch_lines{{outcome="other"}} '
        f"{stats['requests'] - stats['completed'] - stats['failed']}",
        "# HELP frugal_batch_answered_lines Completed batch lines, by where the answer came from.",
        "# TYPE frugal_batch_answered_lines gauge",
        *(
            f'frugal_batch_answered_lines{{source="{label}"}} {stats[key]}'
            for key, label in _SOURCES
        ),
        "# HELP frugal_batch_cost_usd_micros What batch lines cost (micro-USD).",
        "# TYPE frugal_batch_cost_usd_micros gauge",
        f"frugal_batch_cost_usd_micros {stats['cost_usd_micros']}",
        "# HELP frugal_batch_saved_usd_micros Saving vs interactive calls (micro-USD).",
        "# TYPE frugal_batch_saved_usd_micros gauge",
        f"frugal_batch_saved_usd_micros {stats['saved_usd_micros']}",
    ]
    return ("\n".join(lines) + "\n").encode()
