"""Prometheus across several worker processes: what must be set up, and the merged exposition.

prometheus-client chooses how metric values are stored once, when ``prometheus_client`` is
first imported: if ``PROMETHEUS_MULTIPROC_DIR`` is then in the environment, every value lives
in a per-process mmap file in that directory, otherwise in process memory. So whoever starts
several uvicorn workers (the CLI) must, before any worker imports ``prometheus_client``:

1. create an empty directory (remove the ``*.db`` files of an earlier run: they would be
   added into the new totals) and export ``PROMETHEUS_MULTIPROC_DIR=<dir>`` in the parent,
   so that every worker inherits it;
2. give each worker's `GatewayMetrics` ``multiprocess_dir=<the same dir>``;
3. optionally call ``prometheus_client.multiprocess.mark_process_dead(pid, path=<dir>)``
   when a worker exits; only ``live*`` gauge modes need it and we use none, so a dead
   worker's counters keep counting in the totals, as they should.

Any worker can then answer ``GET /metrics``: it renders the sum of every worker's files.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector


def values_are_shared() -> bool:
    """Whether this process keeps metric values in ``PROMETHEUS_MULTIPROC_DIR`` files (the
    environment variable was set when ``prometheus_client`` was first imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def merged_registry(path: str) -> CollectorRegistry:
    """A registry whose only collector merges every process's metric files under ``path``:
    counters and histograms are summed, gauges follow their ``multiprocess_mode``.

    Raises ``ValueError`` when ``path`` is not a directory."""
    registry = CollectorRegistry(auto_describe=False)
    # prometheus-client leaves this constructor unannotated.
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def render_multiprocess(path: str) -> tuple[bytes, str]:
    """The Prometheus text exposition of all processes that wrote metrics under ``path``,
    and its content type. Works from any process, shared mode or not (nothing is recorded)."""
    return generate_latest(merged_registry(path)), CONTENT_TYPE_LATEST
