"""The ``[dashboard]`` settings section: the server-side history the dashboard draws."""

from __future__ import annotations

from server.settings_base import Section
from server.settings_base import check as _check


class DashboardSettings(Section, frozen=True, forbid_unknown_fields=True):
    """History points are ``history_bucket_s`` wide and kept ``history_retention_s``
    (in Redis when configured, so every replica and a reloaded page see the same charts)."""

    history_bucket_s: int = 60
    history_retention_s: int = 86_400

    def __post_init__(self) -> None:
        _check(self.history_bucket_s >= 1, "history_bucket_s", "at least 1 second")
        _check(
            self.history_retention_s >= self.history_bucket_s,
            "history_retention_s",
            "at least history_bucket_s",
        )
