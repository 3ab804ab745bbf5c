"""`AnswerCache`: the pipeline's policy over the exact and the semantic response caches.

Reads: the exact cache when the request allows it; then the semantic cache, only for a
single-turn (configurable), non-personal, representable question. Writes: both, after a fresh
answer, under a content class chosen from the tool results: ``realtime`` when any tool was
realtime (TTL 0 by default: never stored), ``short`` when the fallback model answered or a
tool failed (a degraded answer should absorb a burst, not linger), ``faq`` when the
knowledge base matched well, else ``default``. Tags are the knowledge-base document ids, so
editing a document invalidates the answers built on it. Cache trouble never fails a request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from agent.errors import EmbeddingError
from agent.pipeline.planner import KB_TOOL
from agent.pipeline.response import CacheSource
from agent.tools.base import ToolResult
from agent.tracing import Span, span
from agent.types import Message
from cache.errors import CacheError
from cache.keys import CLASS_DEFAULT, CLASS_FAQ, CLASS_REALTIME, CLASS_SHORT, DEFAULT_TTL_BY_CLASS
from cache.normalize import normalize_text
from cache.prompt_cache import CachedAnswer, CacheMode, PromptCache, should_read, should_write
from cache.semantic_cache import QueryVector, SemanticCache, SemanticEntry, SemanticLookup

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CacheScope:
    """Where one request's answer may be read from and written to.

    ``exact_key`` is None when the exact cache is off; ``semantic_query`` is None when the
    semantic cache may not be used, with the reason in ``semantic_skip``. ``tier_key`` is the
    semantic partition: the requested model, plus a digest of any caller system messages.
    ``question_vector`` carries the question's embedding from the read to the write, so a
    miss embeds once.
    """

    mode: CacheMode
    temperature: float
    tenant: str
    tier_key: str
    exact_key: str | None
    semantic_query: str | None
    semantic_skip: str
    question_vector: QueryVector = field(default_factory=QueryVector)


@dataclass(frozen=True, slots=True)
class CacheRead:
    """A read's outcome: the answer on a hit and what each cache said."""

    answer: CachedAnswer | None
    source: CacheSource | None
    exact: str
    semantic: str
    semantic_score: float | None = None


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What an invalidation removed: exact entries, and the semantic entries (returned so a
    replicator can announce their deletion to other replicas)."""

    exact: int
    semantic: list[SemanticEntry]


class _Tags(msgspec.Struct):
    # Reads only the tags of a stored `CachedAnswer` payload.
    tags: list[str] = msgspec.field(default_factory=list)


_tags_decoder = msgspec.json.Decoder(_Tags)


def payload_tags(payload: bytes) -> list[str]:
    """The invalidation tags inside a semantic entry's payload (an encoded `CachedAnswer`);
    empty when it holds none or is not one. Entries replicated from another replica carry
    their tags only there."""
    try:
        return _tags_decoder.decode(payload).tags
    except msgspec.DecodeError:
        return []


class AnswerCache:
    """Reads and writes answers in the exact and semantic caches (either may be None)."""

    def __init__(
        self,
        prompt_cache: PromptCache | None,
        semantic_cache: SemanticCache | None,
        *,
        semantic_max_turns: int = 1,
        faq_min_score: float = 0.5,
        ttl_by_class: Mapping[str, float] = DEFAULT_TTL_BY_CLASS,
        cache_nonzero_temperature: bool = False,
    ) -> None:
        self._exact = prompt_cache
        self._semantic = semantic_cache
        self._semantic_max_turns = semantic_max_turns
        self._faq_min_score = faq_min_score
        self._ttl_by_class = dict(ttl_by_class)
        self._any_t = cache_nonzero_temperature
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(CachedAnswer)

    def scope(
        self,
        *,
        mode: CacheMode,
        temperature: float,
        tenant: str,
        tier_key: str,
        conversation: Sequence[Message],
        system: str | None,
        tools: Sequence[str],
        user_id: str | None,
        personal: bool,
    ) -> CacheScope:
        """Work out the keys for a request (pure CPU, no I/O)."""
        exact_key = None
        if self._exact is not None:
            exact_key = self._exact.key_for(
                messages=conversation,
                tenant=tenant,
                model_tier=tier_key,
                system=system,
                temperature=temperature,
                tools=tools,
                user_id=user_id,
                personal=personal,
            )
        turns = sum(1 for m in conversation if m.role == "user")
        skip = ""
        if self._semantic is None:
            skip = "disabled"
        elif turns > self._semantic_max_turns:
            skip = "skipped:multi_turn"
        elif personal:
            skip = "skipped:personal"
        question = conversation[-1].content if conversation else ""
        # The semantic cache keys on the question alone, so answers written under different
        # caller instructions ("answer in French") live in different partitions.
        instructions = [m.content for m in conversation if m.role == "system"]
        if instructions:
            digest = hashlib.blake2b("\x1f".join(instructions).encode(), digest_size=8)
            tier_key = f"{tier_key}|instructions={digest.hexdigest()}"
        return CacheScope(
            mode, temperature, tenant, tier_key, exact_key, None if skip else question, skip
        )

    async def read(self, scope: CacheScope) -> CacheRead:
        """Look the request up: exact first, then semantic. Never raises for cache trouble."""
        if not should_read(scope.mode, scope.temperature, cache_nonzero_temperature=self._any_t):
            why = "skipped:no-cache" if scope.mode == "no-cache" else "skipped:temperature"
            return CacheRead(
                None,
                None,
                why if self._exact else "disabled",
                why if self._semantic else "disabled",
            )
        exact = "disabled"
        if self._exact is not None and scope.exact_key is not None:
            try:
                with span("cache.exact") as traced:
                    found = await self._exact.lookup(scope.exact_key)
                    traced.set_attribute("frugal.cache.result", "miss" if found is None else "hit")
            except CacheError as exc:
                _log.warning("exact cache read failed: %s", exc)
                found, exact = None, "error:" + exc.code
            else:
                exact = "miss" if found is None else "hit"
            if found is not None:
                return CacheRead(found, "exact", exact, "skipped:exact_hit")
        if self._semantic is None or scope.semantic_query is None:
            return CacheRead(None, None, exact, scope.semantic_skip)
        try:
            with span("cache.semantic") as traced:
                lookup = await self._semantic.lookup(
                    scope.semantic_query,
                    tenant=scope.tenant,
                    tier=scope.tier_key,
                    memo=scope.question_vector,
                )
                _describe_lookup(traced, lookup)
        except (EmbeddingError, CacheError) as exc:
            _log.warning("semantic cache lookup failed: %s", exc)
            return CacheRead(None, None, exact, "error:" + exc.code)
        score = round(lookup.score, 4) if lookup.entry is not None or lookup.score else None
        if lookup.entry is None:
            semantic = "miss" if lookup.reason == "empty" else lookup.reason
            return CacheRead(None, None, exact, semantic, score)
        try:
            answer = self._decoder.decode(lookup.entry.payload)
        except msgspec.DecodeError:
            return CacheRead(None, None, exact, "error:undecodable", score)
        return CacheRead(answer, "semantic", exact, "hit", score)

    def classify(self, results: Sequence[ToolResult], *, used_fallback: bool) -> str:
        """The content class of an answer built on ``results``."""
        if any(result.realtime for result in results):
            return CLASS_REALTIME
        if used_fallback or any(not result.ok for result in results):
            # A degraded answer (fallback model, or a tool that failed) should absorb a burst
            # of identical questions, not linger once the failure is over.
            return CLASS_SHORT
        for result in results:
            output = result.output if result.name == KB_TOOL and result.ok else None
            if output is not None and any(s.score >= self._faq_min_score for s in output.sources):
                return CLASS_FAQ
        return CLASS_DEFAULT

    async def write(
        self, scope: CacheScope, answer: CachedAnswer, *, content_class: str, tags: Sequence[str]
    ) -> str:
        """Store a fresh answer in both caches; return the write diagnostic. Never raises for
        cache trouble (a failed write is logged and the request is served anyway)."""
        if not should_write(scope.mode, scope.temperature, cache_nonzero_temperature=self._any_t):
            return "skipped:no-store" if scope.mode == "no-store" else "skipped:temperature"
        if self._exact is None and self._semantic is None:
            return "disabled"
        answer = msgspec.structs.replace(
            answer, content_class=content_class, tags=list(tags), created_at=time.time()
        )
        stored = False
        if self._exact is not None and scope.exact_key is not None:
            try:
                stored = await self._exact.store(
                    scope.exact_key, answer, content_class=content_class, tags=tags
                )
            except CacheError as exc:
                _log.warning("exact cache write failed: %s", exc)
        ttl = self._ttl(content_class)
        if self._semantic is not None and scope.semantic_query is not None and ttl > 0:
            try:
                stored = (
                    await self._semantic.store(
                        scope.semantic_query,
                        self._encoder.encode(answer),
                        tenant=scope.tenant,
                        tier=scope.tier_key,
                        ttl_s=ttl,
                        tags=tags,
                        memo=scope.question_vector,
                    )
                    or stored
                )
            except (EmbeddingError, CacheError) as exc:
                _log.warning("semantic cache write failed: %s", exc)
        return f"{'stored' if stored else 'not_stored'}:{content_class}"

    async def invalidate_tag(self, tag: str) -> Invalidation:
        """Drop every answer tagged ``tag`` (a knowledge-base document id) from both caches.

        Raises `CacheError` when the exact cache's store is unreachable: an invalidation that
        silently did nothing would leave stale answers served.
        """
        exact = await self._exact.invalidate_tag(tag) if self._exact is not None else 0
        semantic: list[SemanticEntry] = []
        if self._semantic is not None:
            semantic = await self._semantic.remove_tag(tag, lambda e: payload_tags(e.payload))
        return Invalidation(exact, semantic)

    async def forget(self, scope: CacheScope) -> Invalidation:
        """Drop the answer cached for exactly this request's scope from both caches."""
        exact = 0
        if self._exact is not None and scope.exact_key is not None:
            exact = int(await self._exact.invalidate_key(scope.exact_key))
        semantic: list[SemanticEntry] = []
        if self._semantic is not None and scope.semantic_query is not None:
            query = normalize_text(scope.semantic_query)
            semantic = await self._semantic.remove_where(
                lambda e: (e.tenant, e.tier, e.query) == (scope.tenant, scope.tier_key, query)
            )
        return Invalidation(exact, semantic)

    def _ttl(self, content_class: str) -> float:
        if self._exact is not None:
            return self._exact.ttl_for(content_class)
        return self._ttl_by_class.get(content_class, self._ttl_by_class.get(CLASS_DEFAULT, 0.0))


def _describe_lookup(traced: Span, lookup: SemanticLookup) -> None:
    # The verdict the response reports: a partition with no candidate is a plain miss.
    reason = "miss" if lookup.reason == "empty" else lookup.reason
    result = "hit" if lookup.entry is not None else reason
    traced.set_attribute("frugal.cache.result", result)
    traced.set_attribute("frugal.cache.score", round(lookup.score, 4))
