"""The ``[batch]`` settings section: the batch lane (``/v1/files``, ``/v1/batches``)."""

from __future__ import annotations

import re
from typing import Final

from server.settings_base import Section
from server.settings_base import check as _check

_LIMIT_RE: Final = re.compile(
    r"(?P<name>[A-Za-z0-9._-]{1,64})=(?P<rpm>\d*)/(?P<tpm>\d*)(/(?P<conc>\d+))?"
)


class DeferredLimit(Section, frozen=True):
    """One provider's deferred-queue limits: requests and tokens per window (None: no
    limit) and lines at once (None: ``deferred_concurrency``)."""

    requests: int | None
    tokens: int | None
    concurrency: int | None


class BatchSettings(Section, frozen=True, forbid_unknown_fields=True):
    """Where the lane keeps files, how often it looks at provider batches, how deferred
    lines run (``deferred_limits``: ``provider=RPM/TPM[/CONCURRENCY]`` entries, either limit
    may be empty, counted per ``deferred_limit_window_s``), whether a provider group or a
    deferred line the budget cannot hold waits for room (``wait_for_budget``; a deferred line
    looks again with backoff up to ``deferred_wait_max_s``) or fails, and the optional
    completion webhook (HMAC-signed with ``webhook_secret``)."""

    enabled: bool = True
    files_dir: str = ".frugal/batch-files"
    max_file_bytes: int = 100_000_000
    tick_s: float = 1.0
    poll_initial_s: float = 5.0
    poll_max_s: float = 300.0
    deferred_concurrency: int = 4
    deferred_max_attempts: int = 3
    deferred_backoff_s: float = 1.0
    deferred_limits: tuple[str, ...] = ()
    deferred_limit_window_s: float = 60.0
    deferred_wait_max_s: float = 60.0
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
        _check(
            self.deferred_limit_window_s >= 0.001,
            "deferred_limit_window_s",
            "at least 0.001 seconds",
        )
        _check(self.deferred_wait_max_s > 0, "deferred_wait_max_s", "a positive number of seconds")
        expected = "entries 'provider=RPM/TPM[/CONCURRENCY]', RPM or TPM may be empty, none 0"
        for entry in self.deferred_limits:
            found = _LIMIT_RE.fullmatch(entry)
            _check(found is not None, "deferred_limits", expected)
            assert found is not None
            numbers = [found["rpm"], found["tpm"], found["conc"]]
            _check(
                all(n is None or n == "" or int(n) >= 1 for n in numbers),
                "deferred_limits",
                expected,
            )

    def limits_by_provider(self) -> dict[str, DeferredLimit]:
        """``deferred_limits`` by provider name."""
        out: dict[str, DeferredLimit] = {}
        for entry in self.deferred_limits:
            found = _LIMIT_RE.fullmatch(entry)
            if found is None:  # checked in __post_init__
                continue
            out[found["name"]] = DeferredLimit(
                requests=int(found["rpm"]) if found["rpm"] else None,
                tokens=int(found["tpm"]) if found["tpm"] else None,
                concurrency=int(found["conc"]) if found["conc"] else None,
            )
        return out
