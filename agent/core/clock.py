"""`StageClock`: where one request's time went, stage by stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageClock:
    """Float milliseconds per named stage since one start; repeated stages add up."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - began) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + ms

    def mark(self, name: str) -> None:
        """Record ``name`` as the time elapsed since the start (e.g. time to first token)."""
        self.stages[name] = self.elapsed_ms()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def snapshot(self) -> dict[str, float]:
        """Every stage rounded to microseconds, plus ``total``."""
        out = {name: round(ms, 3) for name, ms in self.stages.items()}
        out["total"] = round(self.elapsed_ms(), 3)
        return out
