"""`LatencyWindow`: percentiles over the most recent samples, in bounded memory.

A ring buffer of the last ``size`` samples (milliseconds); `percentiles` sorts a copy with
numpy. Recording is O(1) and allocation-free, so it can sit on every request's path.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class LatencyWindow:
    """The last ``size`` samples of one latency series."""

    def __init__(self, size: int = 4096) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._samples: npt.NDArray[np.float64] = np.zeros(size, dtype=np.float64)
        self._next = 0
        self._count = 0

    def add(self, milliseconds: float) -> None:
        """Record one sample, replacing the oldest once the window is full."""
        self._samples[self._next] = milliseconds
        self._next = (self._next + 1) % len(self._samples)
        self._count = min(self._count + 1, len(self._samples))

    @property
    def count(self) -> int:
        """How many samples the window holds."""
        return self._count

    def percentiles(self, *quantiles: float) -> list[float]:
        """The given percentiles (0-100) of the held samples; zeros when empty."""
        if not self._count:
            return [0.0 for _ in quantiles]
        held = self._samples[: self._count]
        values = np.percentile(held, list(quantiles), method="linear")
        return [round(float(v), 3) for v in values]

    def maximum(self) -> float:
        """The largest held sample (0.0 when empty)."""
        return round(float(self._samples[: self._count].max()), 3) if self._count else 0.0
