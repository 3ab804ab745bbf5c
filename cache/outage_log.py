"""`OutageLog`: how a Redis-backed component reports that Redis fails, the same way in each.

Every failed operation is counted (``errors_total``, and ``errors_by_op`` by Redis operation,
for ``/metrics``); a warning is logged at most once per ``interval_s`` with the errors since the
last one, and the recovery once, when the component names it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from cache.errors import StoreUnavailable


class OutageLog:
    """Counts failures and logs ``"<failing> (N errors since last report): <error>"`` at most
    every ``interval_s``; after a failure, the next success logs ``"<recovered> after N errors"``
    (nothing when ``recovered`` is None)."""

    def __init__(
        self,
        logger: logging.Logger,
        failing: str,
        recovered: str | None = None,
        *,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.errors_total = 0
        self.errors_by_op: Counter[str] = Counter()
        self._log = logger
        self._failing_text = failing
        self._recovered_text = recovered
        self._interval = interval_s
        self._clock = clock
        self._logged_at: float | None = None
        self._unlogged = 0
        self._failing = False

    def failed(self, exc: StoreUnavailable) -> None:
        self.errors_total += 1
        self.errors_by_op[exc.op] += 1
        self._unlogged += 1
        self._failing = True
        now = self._clock()
        if self._logged_at is None or now - self._logged_at >= self._interval:
            self._log.warning(
                "%s (%d errors since last report): %s", self._failing_text, self._unlogged, exc
            )
            self._logged_at = now
            self._unlogged = 0

    def succeeded(self) -> None:
        if self._failing:
            self._failing = False
            if self._recovered_text is not None:
                self._log.info("%s after %d errors", self._recovered_text, self.errors_total)


class ReportsOutages:
    """For a component holding an `OutageLog` as ``_outage``: its counts, as ``/metrics`` and
    the tests read them."""

    _outage: OutageLog

    @property
    def errors_total(self) -> int:
        """Failed or timed-out Redis operations."""
        return self._outage.errors_total

    @property
    def errors_by_op(self) -> Counter[str]:
        """The same failures by Redis operation."""
        return self._outage.errors_by_op
