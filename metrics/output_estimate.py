"""`OutputEstimate`: how many output tokens to hold for a call, from recent answers per model.

In ``estimated`` hold mode a budget holds the prompt plus the p95 of the last answers of the
same model instead of the whole answer cap; until a model has ``min_samples`` answers (and
in ``worst_case`` mode always) the cap itself is held.

With a shared `OutputSamples` (Redis) the answers of every replica go into one sample per model:
each replica appends its own in the background and reads the merged sample back
(`keep_syncing`), so every replica holds the same p95 for a model once it has synced. The
request path never waits for Redis; while it is down each replica uses what it last had plus
its own answers.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

import anyio

from cache.errors import StoreUnavailable

HoldMode = Literal["worst_case", "estimated"]

SYNC_INTERVAL_S = 1.0

log = logging.getLogger("frugal.budget")


class OutputSamples(Protocol):
    """Recent output token counts per model, shared by every replica."""

    async def exchange(
        self, new: Mapping[str, Sequence[int]], models: Sequence[str], *, window: int
    ) -> dict[str, list[int]]:
        """Append ``new`` (per model, oldest first); return the last ``window`` counts of each
        of ``models`` that has any. Raises `cache.errors.StoreUnavailable`."""
        ...


class OutputEstimate:
    """A bounded window of recent output token counts per model (see the module).

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
        shared: OutputSamples | None = None,
    ) -> None:
        if window < min_samples or min_samples < 1:
            raise ValueError("need 1 <= min_samples <= window")
        self.mode: HoldMode = mode
        self._window = window
        self._min_samples = min_samples
        self._percentile = percentile
        self._max_models = max_models
        self._samples: dict[str, deque[int]] = {}
        self._shared = shared
        self._unsent: dict[str, list[int]] = {}

    def output_tokens(self, model: str, cap: int) -> int:
        """The output tokens to hold for a call to ``model`` that may produce up to ``cap``.

        ``cap`` in worst-case mode or while ``model`` has too few samples; otherwise the
        percentile of its recent answers, never above ``cap``.
        """
        samples = self._samples.get(model)
        if samples is None and self._shared is not None and self.mode == "estimated":
            self._samples_of(model)  # known from now on, so the next sync fetches its sample
        if self.mode == "worst_case" or samples is None or len(samples) < self._min_samples:
            return cap
        ordered = sorted(samples)
        rank = max(math.ceil(self._percentile / 100 * len(ordered)) - 1, 0)
        return min(ordered[rank], cap)

    def observe(self, model: str, tokens: int) -> None:
        """Record that a finished call to ``model`` produced ``tokens`` output tokens."""
        if tokens < 0:
            return
        self._samples_of(model).append(tokens)
        if self._shared is not None:
            unsent = self._unsent.setdefault(model, [])
            unsent.append(tokens)
            del unsent[: -self._window]

    async def sync(self) -> None:
        """Share the answers seen here and take every model's merged sample (see the module);
        while the store is unreachable keep them for the next try."""
        if self._shared is None:
            return
        sending, self._unsent = self._unsent, {}
        models = list(self._samples)
        try:
            merged = await self._shared.exchange(sending, models, window=self._window)
        except StoreUnavailable as exc:
            for model, tokens in sending.items():
                unsent = self._unsent.setdefault(model, [])
                unsent[:0] = tokens
                del unsent[: -self._window]
            log.debug("output samples not shared: %s", exc)
            return
        for model, tokens in merged.items():
            samples = self._samples_of(model)
            samples.clear()
            samples.extend(tokens)
            samples.extend(self._unsent.get(model, ()))  # answered while this sync ran

    async def keep_syncing(self, interval_s: float = SYNC_INTERVAL_S) -> None:
        """`sync` every ``interval_s`` until cancelled."""
        while True:
            await self.sync()
            await anyio.sleep(interval_s)

    def _samples_of(self, model: str) -> deque[int]:
        samples = self._samples.pop(model, None)
        if samples is None:
            samples = deque(maxlen=self._window)
            if len(self._samples) >= self._max_models:
                forgotten = next(iter(self._samples))
                del self._samples[forgotten]
                self._unsent.pop(forgotten, None)
        self._samples[model] = samples  # re-inserted: most recently used last
        return samples
