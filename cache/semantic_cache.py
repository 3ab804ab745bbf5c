"""`SemanticCache`: answers for questions that mean the same, guarded against false hits.

A lookup embeds the normalised query, searches the ``(tenant, tier, embedder)`` partition of
its `cache.semantic_backend.SemanticBackend` (in process, or Redis's vector index) and serves
the best candidate that `AcceptRule.judge` accepts: cosine at least the threshold, and no
negation, antonym, number, id, date, amount... that differs (`cache.guards`). Payloads are
opaque bytes (the caller stores an encoded ``CachedAnswer``).

Queries the embedder cannot see whole are neither looked up nor stored: a query longer than the
embedder's window (its vector would only see the head, so two long prompts differing in the tail
would score 1.0) is ``too_long``, and when more than
``max_unknown_token_ratio`` of a query's tokens are unknown to its vocabulary, its vector says
little about its meaning. MiniLM is English-only, so Chinese queries are "unrepresentable" for
it; Chinese semantic caching needs a multilingual embedder through the OpenAI-compatible
embeddings client (`agent.openai_embedder`), with no ``unknown_ratio`` check.

A long message ("<a pasted document>. <a question>") is its context and its question
(`cache.question_context`): the question is embedded and judged, the context is part of the
partition, so two messages sharing a document are compared on their questions only.

A miss embeds once: `lookup` leaves the vector in a `QueryVector` that `store` reuses.

With the in-process backend, sharing across replicas is left to a layer above: `store`
reports each new entry to ``on_store`` (e.g. to publish it to Redis), and `add_local` inserts
an entry received from elsewhere without reporting it again. Redis's vector index needs none
of that: every replica searches the same index.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from cache.accept_rule import AcceptRule, choose_judged, judge_allows
from cache.base import Embedder, PairJudge
from cache.guards import load_lexicons
from cache.normalize import normalize_text
from cache.question_context import split_question, with_context
from cache.semantic_backend import F32, MemoryBackend, SemanticBackend, SemanticEntry
from cache.verified_hits import MemoryVerdicts, VerdictLog, Verdicts, Verifier

CANDIDATES = 4  # how many neighbours a lookup asks the rule about
_log = logging.getLogger(__name__)

__all__ = [
    "CANDIDATES",
    "QueryVector",
    "SemanticCache",
    "SemanticEntry",
    "SemanticLookup",
    "SemanticRecord",
    "entry_id",
]


class SemanticLookup(msgspec.Struct, frozen=True):
    """The outcome of a lookup: ``entry`` on a hit, else None, and why.

    ``reason`` is ``hit``, ``empty`` (no candidate in the partition), ``below_threshold``,
    ``guard:<kinds>``, ``too_long``, ``unrepresentable:<ratio>``, with a pair judge
    ``judge:rejected`` (it read both questions and found them to differ) or ``judge:error``,
    or with a verifier
    ``verifier:refused`` (this entry was judged wrong at a score as high),
    ``verifier:rejected`` (judged wrong now) or ``verifier:error``; ``score`` is the best
    candidate's cosine (0.0 when there was none). ``verified`` says a verifier was asked.
    """

    entry: SemanticEntry | None
    score: float
    reason: str
    verified: bool = False


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


class QueryVector:
    """One request's question and its vector, so that a miss embeds once: the lookup fills
    it, the store after the answer reuses it. Hand the same object to both calls."""

    __slots__ = ("embedder", "text", "vector")

    def __init__(self) -> None:
        self.text: str | None = None
        self.embedder: str | None = None
        self.vector: F32 | None = None


class SemanticCache:
    """Similarity cache over an `Embedder` and a `SemanticBackend` (in process by default),
    with per-entry TTLs."""

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
        backend: SemanticBackend | None = None,
        clock: Callable[[], float] | None = None,
        verifier: Verifier | None = None,
        verdicts: Verdicts | None = None,
        verify_floor: float = 0.80,
        pair_judge: PairJudge | None = None,
        judge_min_probability: float = 0.5,
    ) -> None:
        self._embedder = embedder
        self._pair_judge = pair_judge
        self._judge_min = judge_min_probability
        load_lexicons()
        # With a verifier, the guards still judge every candidate, but from the floor up: the
        # verdict log and the verifier decide between the floor and certainty.
        self.rule = AcceptRule(
            verify_floor if verifier is not None else threshold,
            max_unknown_token_ratio,
            unknown_ratio,
            truncated,
            ambiguity_margin,
        )
        self._verifier = verifier
        if verdicts is None and verifier is not None:
            verdicts = MemoryVerdicts(VerdictLog(0.05))
        self.verdicts = verdicts
        if backend is None:
            backend = (
                MemoryBackend(embedder.dim, max_entries)
                if clock is None
                else MemoryBackend(embedder.dim, max_entries, clock=clock)
            )
        self.backend = backend
        self._on_store = on_store

    @property
    def entry_count(self) -> int:
        """Entries held in this process (expired ones linger until evicted or purged); 0 for
        a backend outside the process."""
        return len(self.backend) if isinstance(self.backend, MemoryBackend) else 0

    async def lookup(
        self, query: str, *, tenant: str, tier: str, memo: QueryVector | None = None
    ) -> SemanticLookup:
        """Return the best guarded hit for ``query`` in ``(tenant, tier)``, or why there is none.

        ``memo`` keeps the query's vector for a `store` of the same request. Raises
        `cache.errors.EmbeddingError` when the embedder fails and `cache.errors.CacheError`
        when a remote backend does.
        """
        text, tier = _question_and_tier(query, tier)
        reason = self.rule.unrepresentable(text)
        if reason is not None:
            return SemanticLookup(None, 0.0, reason)
        partition = (tenant, tier, self._embedder.name)
        if not self.backend.may_hold(partition):
            return SemanticLookup(None, 0.0, "empty")
        vector = await self._vector(text, memo)
        # Only candidates at the rule's threshold can be accepted: the backend may skim the rest.
        found = await self.backend.search(vector, partition, CANDIDATES, floor=self.rule.threshold)
        return await self._pick(text, found, tenant)

    async def store(
        self,
        query: str,
        payload: bytes,
        *,
        tenant: str,
        tier: str,
        ttl_s: float,
        tags: Sequence[str] = (),
        memo: QueryVector | None = None,
    ) -> bool:
        """Keep ``payload`` for ``ttl_s`` seconds; report it to ``on_store``.

        Embeds ``query`` unless ``memo`` holds its vector from this request's lookup.
        Returns False (storing nothing) when ``ttl_s`` is not positive or the query is
        unrepresentable. Raises `cache.errors.EmbeddingError` when the embedder fails.
        """
        text, tier = _question_and_tier(query, tier)
        if ttl_s <= 0 or self.rule.unrepresentable(text) is not None:
            return False
        vector = await self._vector(text, memo)
        await self.add_local(
            text, vector, payload, tenant=tenant, tier=tier, ttl_s=ttl_s, tags=tags
        )
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
        tags: Sequence[str] = (),
    ) -> None:
        """Insert an already-embedded entry (no ``on_store`` call): a replicator's way in.

        ``query`` is taken as normalised; ``vector`` must come from this cache's embedder.
        """
        name = self._embedder.name
        entry = SemanticEntry(
            entry_id(tenant, tier, name, query), query, payload, tenant, tier, tuple(tags)
        )
        unit = np.asarray(vector, dtype=np.float32).reshape(-1)
        if unit.shape[0] != self._embedder.dim:
            raise ValueError(f"expected a vector of {self._embedder.dim} floats")
        await self.backend.add(entry, unit, (tenant, tier, name), ttl_s)

    async def remove(self, query: str, *, tenant: str, tier: str) -> bool:
        """Forget the entry stored for exactly this query; return whether there was one."""
        text, tier = _question_and_tier(query, tier)
        item_id = entry_id(tenant, tier, self._embedder.name, text)
        return bool(await self.backend.remove([item_id]))

    async def remove_ids(self, entry_ids: Sequence[str]) -> list[SemanticEntry]:
        """Forget the entries with these ids (e.g. picked from `list_entries`); return those
        that were there, so a replicator can announce the deletions."""
        return await self.backend.remove(entry_ids)

    async def remove_where(self, predicate: Callable[[SemanticEntry], bool]) -> list[SemanticEntry]:
        """Forget every entry ``predicate`` accepts (e.g. answers built on an edited document);
        return them, so a replicator can announce the deletions to other replicas."""
        return await self.backend.remove_where(predicate)

    async def remove_tag(
        self, tag: str, tags_of: Callable[[SemanticEntry], Sequence[str]]
    ) -> list[SemanticEntry]:
        """Forget every entry stored with ``tag`` (``tags_of`` reads tags out of a payload for
        entries that came without them); return them."""
        return await self.backend.remove_tag(tag, tags_of)

    async def purge_expired(self) -> int:
        """Drop expired in-process entries now (a remote backend expires its own); return
        how many."""
        if isinstance(self.backend, MemoryBackend):
            return await self.backend.purge_expired()
        return 0

    async def _vector(self, text: str, memo: QueryVector | None) -> F32:
        name = self._embedder.name
        kept = None if memo is None else memo.vector
        if kept is not None and memo is not None and (memo.text, memo.embedder) == (text, name):
            return kept
        vector: F32 = np.asarray((await self._embedder.embed([text]))[0], dtype=np.float32)
        if memo is not None:
            memo.text, memo.embedder, memo.vector = text, name, vector
        return vector

    async def _pick(
        self, text: str, found: list[tuple[SemanticEntry, float]], tenant: str
    ) -> SemanticLookup:
        # One code path for every backend: the threshold and the guards judge each candidate.
        if not found:
            return SemanticLookup(None, 0.0, "empty")
        entries = [entry for entry, _ in found]
        scores = [score for _, score in found]
        chosen, reason = choose_judged(
            lambda at: self.rule.judge(text, entries[at].query, scores[at]),
            scores,
            self.rule.ambiguity_margin,
        )
        if chosen is None:
            return SemanticLookup(None, scores[0], reason)
        entry, score = entries[chosen], scores[chosen]
        if self._pair_judge is not None:
            refused = await _judged(self._pair_judge, text, entry, self._judge_min)
            if refused is not None:
                return SemanticLookup(None, score, refused)
        verified = False
        if self._verifier is not None and self.verdicts is not None:
            judged = verdict_key(entry)
            decision = await self.verdicts.decide(judged, score)
            if decision == "refuse":
                return SemanticLookup(None, score, "verifier:refused")
            if decision == "ask":
                verified = True
                try:
                    right = await self._verifier.verify(text, entry, tenant=tenant)
                except Exception as exc:  # a failing verifier is a miss, never a wrong hit
                    _log.warning("semantic verifier failed: %s", exc)
                    return SemanticLookup(None, score, "verifier:error", verified)
                await self.verdicts.record(judged, score, right)
                if not right:
                    return SemanticLookup(None, score, "verifier:rejected", verified)
        await self.backend.touch(entry.id)
        return SemanticLookup(entry, score, "hit", verified)


async def _judged(
    judge: PairJudge, text: str, entry: SemanticEntry, min_probability: float
) -> str | None:
    """Why the pair judge refuses the candidate the guards accepted, or None."""
    try:
        [chance] = await judge.probabilities([(text, entry.query)])
    except Exception as exc:  # a failing judge is a miss, never a wrong hit
        _log.warning("semantic pair judge failed: %s", exc)
        return "judge:error"
    return None if judge_allows(chance, min_probability) else "judge:rejected"


def _question_and_tier(query: str, tier: str) -> tuple[str, str]:
    # A long message is its context (keyed: the partition) and its question (embedded).
    context, question = split_question(normalize_text(query))
    return question, with_context(tier, context)


def verdict_key(entry: SemanticEntry) -> str:
    """What a verdict is about: the entry *and* its answer. The same question stored again with
    another answer (after expiry, say) starts with no verdicts instead of inheriting them."""
    answer = hashlib.blake2b(entry.payload, digest_size=8).hexdigest()
    return f"{entry.id}.{answer}"


def entry_id(tenant: str, tier: str, embedder: str, query: str) -> str:
    """The id of the entry for one ``(tenant, tier, embedder, normalised query)``.

    Storing the same material again (on any replica) replaces the same entry.
    """
    key = "\x1f".join((tenant, tier, embedder, query)).encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()
