"""What "saved" means, defined once: the dashboard, ``/stats``, ``/stats/history`` and the
load report (`bench.load.report`) all add savings up with `split_saving` and explain them
with `BASELINES`.

A saving is what a request would have cost without one mechanism, minus what it cost:

- ``exact_cache`` / ``semantic_cache``: a cache hit saves the price the call would have cost,
  i.e. what the cached answer cost when a model produced it (same model, same tokens);
- ``routing``: a request for ``auto`` that the router sent to the cheap model saves what the
  strong model would have cost for the same tokens, minus what the cheap one cost (explicit
  models and cache hits save nothing here: nothing was routed);
- ``batch``: a batch-lane line saves the interactive price of its answer minus the batch
  price (a batch line answered from the cache saves its whole interactive price).

The mechanisms never overlap: each request saves through at most one of them. This is not
"everything on the strong model, no cache" (a larger what-if the load report prints apart).
"""

from __future__ import annotations

from typing import Final

import msgspec

MECHANISMS: Final = ("exact_cache", "semantic_cache", "routing", "batch")

BASELINES: Final = {
    "exact_cache": "An exact cache hit saves what the call would have cost: the cached "
    "answer's own price when a model produced it.",
    "semantic_cache": "A semantic cache hit saves the price of the call it replaced: the "
    "matched answer's own price when a model produced it.",
    "routing": "A request for model auto that went to the cheap model saves the strong "
    "model's price for the same tokens minus what it cost.",
    "batch": "A batch-lane line saves its interactive price minus the batch price it paid "
    "(all of it when the cache answered).",
}
"""One sentence per mechanism, shown on the dashboard next to its figure."""


class SavedSplit(msgspec.Struct, frozen=True):
    """Micro-USD saved, by mechanism (see the module docstring); ``total`` is their sum."""

    exact_cache: int = 0
    semantic_cache: int = 0
    routing: int = 0
    batch: int = 0
    total: int = 0

    def __add__(self, other: SavedSplit) -> SavedSplit:
        return saved_split(
            self.exact_cache + other.exact_cache,
            self.semantic_cache + other.semantic_cache,
            self.routing + other.routing,
            self.batch + other.batch,
        )

    def __sub__(self, other: SavedSplit) -> SavedSplit:
        return saved_split(
            self.exact_cache - other.exact_cache,
            self.semantic_cache - other.semantic_cache,
            self.routing - other.routing,
            self.batch - other.batch,
        )


def saved_split(exact_cache: int, semantic_cache: int, routing: int, batch: int) -> SavedSplit:
    """A `SavedSplit` with its total."""
    return SavedSplit(
        exact_cache, semantic_cache, routing, batch, exact_cache + semantic_cache + routing + batch
    )


def split_saving(
    cache_layer: str | None, saved_usd_micros: int, *, batch: bool = False
) -> SavedSplit:
    """The mechanism one request's ``saved_usd_micros`` belongs to: the batch lane when
    ``batch``, else the cache layer that answered, else routing."""
    saved = max(saved_usd_micros, 0)
    if batch:
        return saved_split(0, 0, 0, saved)
    if cache_layer == "exact":
        return saved_split(saved, 0, 0, 0)
    if cache_layer == "semantic":
        return saved_split(0, saved, 0, 0)
    return saved_split(0, 0, saved, 0)
