"""`OutputEstimate`: how many output tokens to hold for a call, from recent answers per model.

In ``estimated`` hold mode a budget holds the prompt plus the p95 of the last answers of the
same model instead of the whole answer cap; until a model has ``min_samples`` answers (and
in ``worst_case`` mode always) the cap itself is held.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

HoldMode = Literal["worst_case", "estimated"]


class OutputEstimate:
    """A bounded window of recent output token counts per model, in this process.

    At most ``window`` samples per model and ``max_models`` models are kept (the oldest model
    is forgotten first), so memory stays bounded whatever names callers send.
    """

    def __init__(
        self,
        *,
        mode: HoldMode = "worst_case",
        window: int = 200,
        min_samples: int = 20,
        percentile: float = 95.0,
        max_models: int = 256,
    ) -> None:
        if window < min_samples or min_samples < 1:
            raise ValueError("need 1 <= min_samples <= window")
        self.mode: HoldMode = mode
        self._window = window
        self._min_samples = min_samples
        self._percentile = percentile
        self._max_models = max_models
        self._samples: dict[str, deque[int]] = {}

    def output_tokens(self, model: str, cap: int) -> int:
        """The output tokens to hold for a call to ``model`` that may produce up to ``cap``.

        ``cap`` in worst-case mode or while ``model`` has too few samples; otherwise the
        percentile of its recent answers, never above ``cap``.
        """
        samples = self._samples.get(model)
        if self.mode == "worst_case" or samples is None or len(samples) < self._min_samples:
            return cap
        ordered = sorted(samples)
        rank = max(math.ceil(self._percentile / 100 * len(ordered)) - 1, 0)
        return min(ordered[rank], cap)

    def observe(self, model: str, tokens: int) -> None:
        """Record that a finished call to ``model`` produced ``tokens`` output tokens."""
        if tokens < 0:
            return
        samples = self._samples.pop(model, None)
        if samples is None:
            samples = deque(maxlen=self._window)
            if len(self._samples) >= self._max_models:
                del self._samples[next(iter(self._samples))]
        samples.append(tokens)
        self._samples[model] = samples  # re-inserted: most recently used last
