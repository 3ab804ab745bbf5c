"""The ``[batch]`` settings section: the batch lane (``/v1/files``, ``/v1/batches``)."""

from __future__ import annotations

from server.settings_base import Section
from server.settings_base import check as _check


class BatchSettings(Section, frozen=True, forbid_unknown_fields=True):
    """Where the lane keeps files, how often it looks at provider batches, how deferred
    lines run, whether a provider group the budget cannot hold waits for room
    (``wait_for_budget``) or fails, and the optional completion webhook (HMAC-signed with
    ``webhook_secret``)."""

    enabled: bool = True
    files_dir: str = ".frugal/batch-files"
    max_file_bytes: int = 100_000_000
    tick_s: float = 1.0
    poll_initial_s: float = 5.0
    poll_max_s: float = 300.0
    deferred_concurrency: int = 4
    deferred_max_attempts: int = 3
    deferred_backoff_s: float = 1.0
    wait_for_budget: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = None

    def __post_init__(self) -> None:
        _check(self.max_file_bytes >= 1, "max_file_bytes", "at least 1 byte")
        _check(self.tick_s > 0, "tick_s", "a positive number of seconds")
        _check(0 < self.poll_initial_s <= self.poll_max_s, "poll_initial_s", "0 < it <= poll_max_s")
        _check(self.deferred_concurrency >= 1, "deferred_concurrency", "at least 1")
        _check(self.deferred_max_attempts >= 1, "deferred_max_attempts", "at least 1")
        _check(self.deferred_backoff_s >= 0, "deferred_backoff_s", "zero or more seconds")
