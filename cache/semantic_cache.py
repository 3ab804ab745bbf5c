"""`SemanticCache`: answers for questions that mean the same, guarded against false hits.

A lookup embeds the normalised query, searches the in-process `SemanticIndex` partition of its
``(tenant, tier, embedder)`` and serves the best candidate that `AcceptRule.judge` accepts:
cosine at least the threshold, and no negation, antonym, number, id, date, amount... that
differs (`cache.guards`). Payloads are opaque bytes (the caller stores an encoded
``CachedAnswer``).

Queries the embedder cannot see whole are neither looked up nor stored: a query longer than the
embedder's window (its vector would only see the head, so two long prompts differing in the tail
would score 1.0) is ``too_long``, and when more than
``max_unknown_token_ratio`` of a query's tokens are unknown to its vocabulary, its vector says
little about its meaning. MiniLM is English-only, so Chinese queries are "unrepresentable" for
it; Chinese semantic caching needs a multilingual embedder through the OpenAI-compatible
embeddings client (`agent.openai_embedder`), with no ``unknown_ratio`` check.

Sharing across replicas is left to a layer above: `store` reports each new entry to
``on_store`` (e.g. to publish it to Redis), and `add_local` inserts an entry received from
elsewhere without reporting it again.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable

import anyio
import msgspec
import numpy as np
import numpy.typing as npt

from cache.accept_rule import AcceptRule, choose
from cache.base import Embedder
from cache.normalize import normalize_text
from cache.semantic_index import SemanticIndex

# Above this many entries a search takes milliseconds: run it in a worker thread.
_THREAD_SEARCH_ABOVE = 20_000  # measured: a 10k two-stage search takes ~0.2 ms inline
CANDIDATES = 4  # how many neighbours a lookup asks the rule about


class SemanticEntry(msgspec.Struct, frozen=True):
    """A stored answer: the normalised query it answered and the caller's payload."""

    id: str
    query: str
    payload: bytes
    tenant: str
    tier: str


class SemanticLookup(msgspec.Struct, frozen=True):
    """The outcome of a lookup: ``entry`` on a hit, else None, and why.

    ``reason`` is ``hit``, ``empty`` (no candidate in the partition), ``below_threshold``,
    ``guard:<kinds>``, ``too_long`` or ``unrepresentable:<ratio>``; ``score`` is the best
    candidate's cosine (0.0 when there was none).
    """

    entry: SemanticEntry | None
    score: float
    reason: str


class SemanticRecord(msgspec.Struct, frozen=True):
    """What `SemanticCache.store` reports to ``on_store``: enough for another replica to call
    `SemanticCache.add_local` without embedding again. ``vector`` is float32 bytes.
    """

    query: str
    vector: bytes
    payload: bytes
    tenant: str
    tier: str
    embedder: str
    ttl_s: float


class SemanticCache:
    """Similarity cache over an `Embedder`, in process, bounded, with per-entry TTLs."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        threshold: float = 0.92,
        max_entries: int = 100_000,
        max_unknown_token_ratio: float = 0.10,
        unknown_ratio: Callable[[str], float] | None = None,
        truncated: Callable[[str], bool] | None = None,
        ambiguity_margin: float = 0.0,
        on_store: Callable[[SemanticRecord], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._embedder = embedder
        self.rule = AcceptRule(
            threshold, max_unknown_token_ratio, unknown_ratio, truncated, ambiguity_margin
        )
        self._index = SemanticIndex(embedder.dim, max_entries, clock=clock)
        self._entries: dict[str, SemanticEntry] = {}
        self._on_store = on_store
        self._clock = clock
        self._lock = anyio.Lock()  # the index is not thread-safe; searches may run in a thread

    @property
    def entry_count(self) -> int:
        """Entries held (expired ones linger until evicted or purged)."""
        return len(self._entries)

    async def lookup(self, query: str, *, tenant: str, tier: str) -> SemanticLookup:
        """Return the best guarded hit for ``query`` in ``(tenant, tier)``, or why there is none.

        Raises `cache.errors.EmbeddingError` when the embedder fails.
        """
        text = normalize_text(query)
        reason = self.rule.unrepresentable(text)
        if reason is not None:
            return SemanticLookup(None, 0.0, reason)
        partition = (tenant, tier, self._embedder.name)
        if not self._entries:
            return SemanticLookup(None, 0.0, "empty")
        vector = (await self._embedder.embed([text]))[0]
        async with self._lock:
            if len(self._index) > _THREAD_SEARCH_ABOVE:
                found = await anyio.to_thread.run_sync(self._search, vector, partition)
            else:
                found = self._search(vector, partition)
            return self._pick(text, found)

    async def store(
        self, query: str, payload: bytes, *, tenant: str, tier: str, ttl_s: float
    ) -> bool:
        """Embed and keep ``payload`` for ``ttl_s`` seconds; report it to ``on_store``.

        Returns False (storing nothing) when ``ttl_s`` is not positive or the query is
        unrepresentable. Raises `cache.errors.EmbeddingError` when the embedder fails.
        """
        text = normalize_text(query)
        if ttl_s <= 0 or self.rule.unrepresentable(text) is not None:
            return False
        vector = (await self._embedder.embed([text]))[0]
        await self.add_local(text, vector, payload, tenant=tenant, tier=tier, ttl_s=ttl_s)
        if self._on_store is not None:
            record = SemanticRecord(
                text,
                np.asarray(vector, dtype=np.float32).tobytes(),
                payload,
                tenant,
                tier,
                self._embedder.name,
                ttl_s,
            )
            await self._on_store(record)
        return True

    async def add_local(
        self,
        query: str,
        vector: npt.ArrayLike,
        payload: bytes,
        *,
        tenant: str,
        tier: str,
        ttl_s: float,
    ) -> None:
        """Insert an already-embedded entry into this process only (no ``on_store`` call).

        ``query`` is taken as normalised; ``vector`` must come from this cache's embedder.
        """
        item_id = entry_id(tenant, tier, self._embedder.name, query)
        expires_at = self._clock() + ttl_s if math.isfinite(ttl_s) else math.inf
        async with self._lock:
            evicted = self._index.add(
                item_id, vector, (tenant, tier, self._embedder.name), expires_at
            )
            for old in evicted:
                self._entries.pop(old, None)
            self._entries[item_id] = SemanticEntry(item_id, query, payload, tenant, tier)

    async def remove(self, query: str, *, tenant: str, tier: str) -> bool:
        """Forget the entry stored for exactly this query; return whether there was one."""
        item_id = entry_id(tenant, tier, self._embedder.name, normalize_text(query))
        async with self._lock:
            self._entries.pop(item_id, None)
            return self._index.remove(item_id)

    async def remove_where(self, predicate: Callable[[SemanticEntry], bool]) -> list[SemanticEntry]:
        """Forget every entry ``predicate`` accepts (e.g. answers built on an edited document);
        return them, so a replicator can announce the deletions to other replicas."""
        async with self._lock:
            doomed = [entry for entry in self._entries.values() if predicate(entry)]
            for entry in doomed:
                del self._entries[entry.id]
                self._index.remove(entry.id)
        return doomed

    async def purge_expired(self) -> int:
        """Drop expired entries now (they are otherwise reclaimed lazily); return how many."""
        async with self._lock:
            purged = self._index.purge_expired()
            for item_id in purged:
                self._entries.pop(item_id, None)
            return len(purged)

    def _search(
        self, vector: npt.ArrayLike, partition: tuple[str, str, str]
    ) -> list[tuple[str, float]]:
        return self._index.search(vector, partition, k=CANDIDATES)

    def _pick(self, text: str, found: list[tuple[str, float]]) -> SemanticLookup:
        if not found:
            return SemanticLookup(None, 0.0, "empty")
        entries = [self._entries[item_id] for item_id, _ in found]
        scores = [score for _, score in found]
        verdicts = [self.rule.judge(text, e.query, s) for e, s in zip(entries, scores, strict=True)]
        chosen, reason = choose(verdicts, scores, self.rule.ambiguity_margin)
        if chosen is None:
            return SemanticLookup(None, scores[0], reason)
        self._index.touch(entries[chosen].id)
        return SemanticLookup(entries[chosen], scores[chosen], "hit")


def entry_id(tenant: str, tier: str, embedder: str, query: str) -> str:
    """The id of the entry for one ``(tenant, tier, embedder, normalised query)``.

    Storing the same material again (on any replica) replaces the same entry.
    """
    key = "\x1f".join((tenant, tier, embedder, query)).encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()
