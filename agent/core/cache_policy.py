"""What the core may cache for a wire request, under which keys, and the reads and writes.

Keys cover every field that can change the output: the caller's whole body less the fields
that only shape transport or bookkeeping (`TRANSPORT_FIELDS`), plus tenant and model. Only
answers that are safe to replay are cached: deterministic requests (temperature 0, or a
seed) unless the operator opts in to others, one choice unless the operator opts in to
``n > 1``, and only when every choice finished with ``stop`` or ``tool_calls`` (never
``length``, ``content_filter``, errors or partial streams), and never an answer a fallback
model gave in the requested model's place.

The protocol the caller speaks is part of every key (``openai.chat`` for Chat Completions,
``anthropic.messages`` for Messages, plus the forwarded ``anthropic-*`` headers;
``openai.responses`` for a Responses body sent natively): a Messages
request is answered only from an entry a Messages request stored, because the two bodies
express a conversation differently and a translation in between could make two different
requests collide. Entries hold the OpenAI-shaped completion either way; the edge replays it
in the caller's protocol. The semantic layer is used only for text-only conversations without
tool traffic, partitioned by everything but the last user message, so two requests share
answers only when all their context is identical.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from agent.core.events import CacheLayer
from agent.core.request import CompletionRequest
from agent.errors import EmbeddingError
from agent.tracing import Span, span
from agent.types import Usage
from cache.errors import CacheError
from cache.keys import CLASS_DEFAULT, DEFAULT_TTL_BY_CLASS
from cache.prompt_cache import CachedAnswer, PromptCache
from cache.semantic_cache import QueryVector, SemanticCache, SemanticLookup

_log = logging.getLogger(__name__)

PROTOCOL: Final = "openai.chat"
PROTOCOL_KEYS: Final = {
    "openai": PROTOCOL,
    "anthropic": "anthropic.messages",
    "responses": "openai.responses",
}
"""The protocol part of the keys, by `CompletionRequest.protocol`."""
TRANSPORT_FIELDS: Final = frozenset(
    {"model", "stream", "stream_options", "user", "metadata", "store", "service_tier"}
)
REPLAYABLE_FINISH: Final = frozenset({"stop", "tool_calls"})
_key_encoder: Final = msgspec.json.Encoder(order="sorted")
_answer_decoder: Final = msgspec.json.Decoder(CachedAnswer)


@dataclass(frozen=True, slots=True)
class WireScope:
    """Where one request may be read from and written to; a None key means that layer is
    not used, and ``skip`` says why (``skipped:<reason>``). ``question_vector`` carries the
    question's embedding from the read to the write, so a miss embeds once."""

    readable: bool
    writable: bool
    exact_key: str | None
    semantic_question: str | None
    partition: str
    tenant: str
    skip: str
    question_vector: QueryVector = field(default_factory=QueryVector)


@dataclass(frozen=True, slots=True)
class WireHit:
    """A cached completion and where it came from; a semantic hit also carries its cosine
    and the stored question it answered."""

    completion: dict[str, Any]
    layer: CacheLayer
    saved_usd_micros: int
    model: str
    score: float | None = None
    question: str | None = None


class WireCache:
    """The exact and semantic caches (either may be None) as the core uses them."""

    def __init__(
        self,
        exact: PromptCache | None,
        semantic: SemanticCache | None,
        *,
        cache_nonzero_temperature: bool = False,
        cache_multiple_choices: bool = False,
        semantic_max_turns: int = 1,
        ttl_by_class: Mapping[str, float] = DEFAULT_TTL_BY_CLASS,
    ) -> None:
        self._ttl_by_class = dict(ttl_by_class)
        self._exact = exact
        self._semantic = semantic
        self._any_temperature = cache_nonzero_temperature
        self._any_n = cache_multiple_choices
        self._semantic_max_turns = semantic_max_turns
        self._encoder = msgspec.json.Encoder()

    def scope(self, request: CompletionRequest) -> WireScope:
        """Work out the keys (pure CPU)."""
        why = self._why_not_cacheable(request)
        readable = not why and request.cache != "no-cache"
        writable = not why and request.cache != "no-store"
        if why:
            skip = why
        elif request.cache == "no-cache":
            skip = "skipped:no-cache"
        else:
            skip = ""
        if not (readable or writable) or (self._exact is None and self._semantic is None):
            return WireScope(False, False, None, None, "", request.tenant, skip or "disabled")
        kept = {k: v for k, v in request.body.items() if k not in TRANSPORT_FIELDS}
        exact_key = None
        if self._exact is not None:
            exact_key = self._exact.key_for_wire(
                tenant=request.tenant,
                model=request.model,
                protocol=PROTOCOL_KEYS.get(request.protocol, request.protocol),
                material=_key_encoder.encode(_material(request, kept)),
            )
        question, partition, semantic_skip = self._semantic_part(request, kept)
        return WireScope(
            readable, writable, exact_key, question, partition, request.tenant, semantic_skip
        )

    def _why_not_cacheable(self, request: CompletionRequest) -> str:
        deterministic = request.temperature == 0 or request.seed is not None
        if not deterministic and not self._any_temperature:
            return "skipped:temperature"
        if request.n > 1 and not self._any_n:
            return "skipped:n"
        return ""

    def _semantic_part(
        self, request: CompletionRequest, kept: dict[str, Any]
    ) -> tuple[str | None, str, str]:
        if self._semantic is None:
            return None, "", "disabled"
        if not request.text_only or request.has_tools:
            return None, "", "skipped:tools_or_parts"
        if request.n > 1:
            return None, "", "skipped:n"
        users = [m for m in request.messages if m.role == "user"]
        if len(users) > self._semantic_max_turns:
            return None, "", "skipped:multi_turn"
        last = request.messages[-1]
        if last.role != "user" or not last.content.strip():
            return None, "", "skipped:not_a_question"
        # The partition is everything but the question: same model, instructions, format,
        # sampling and earlier turns, or no sharing at all.
        context = dict(_material(request, kept))
        if request.protocol == "responses":  # the question is the last input item
            given = request.body.get("input")
            context["input"] = given[:-1] if isinstance(given, list) else []
        else:
            context["messages"] = request.body["messages"][:-1]
        digest = hashlib.blake2b(_key_encoder.encode(context), digest_size=12).hexdigest()
        protocol = PROTOCOL_KEYS.get(request.protocol, request.protocol)
        return last.content, f"{request.model}|{protocol}|{digest}", ""

    async def read(self, scope: WireScope) -> tuple[WireHit | None, str, str]:
        """Exact, then semantic; returns (hit, exact verdict, semantic verdict). Never raises
        for cache trouble."""
        if not scope.readable:
            return None, scope.skip, scope.skip
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
            if found is not None and found.completion is not None:
                return (
                    WireHit(found.completion, "exact", found.cost_usd_micros, found.model),
                    ("hit"),
                    "skipped:exact_hit",
                )
        if self._semantic is None or scope.semantic_question is None:
            return None, exact, scope.skip or "disabled"
        try:
            with span("cache.semantic") as traced:
                lookup = await self._semantic.lookup(
                    scope.semantic_question,
                    tenant=scope.tenant,
                    tier=scope.partition,
                    memo=scope.question_vector,
                )
                _describe_lookup(traced, lookup)
        except (EmbeddingError, CacheError) as exc:
            _log.warning("semantic cache lookup failed: %s", exc)
            return None, exact, "error:" + exc.code
        if lookup.entry is None:
            return None, exact, "miss" if lookup.reason == "empty" else lookup.reason
        try:
            answer = _answer_decoder.decode(lookup.entry.payload)
        except msgspec.DecodeError:
            return None, exact, "error:undecodable"
        if answer.completion is None:
            return None, exact, "miss"
        hit = WireHit(
            answer.completion,
            "semantic",
            answer.cost_usd_micros,
            answer.model,
            lookup.score,
            lookup.entry.query,
        )
        return hit, exact, "hit"

    async def write(
        self,
        scope: WireScope,
        completion: dict[str, Any],
        *,
        model: str,
        usage: Usage,
        cost_usd_micros: int,
        finish_reasons: tuple[str | None, ...],
        used_fallback: bool,
    ) -> str:
        """Store a fresh, complete answer; returns the write diagnostic. Never raises."""
        if not scope.writable:
            return scope.skip or "skipped:no-store"
        if not finish_reasons or any(f not in REPLAYABLE_FINISH for f in finish_reasons):
            return "skipped:finish_reason"
        if used_fallback:
            # The caller named a model; another one answered. Replaying that answer to the
            # next caller of the model would pass it off as the model's own.
            return "skipped:fallback"
        content_class = CLASS_DEFAULT
        answer = CachedAnswer(
            answer=_first_text(completion),
            model=model,
            created_at=time.time(),
            usage=usage,
            cost_usd_micros=cost_usd_micros,
            content_class=content_class,
            completion=completion,
        )
        stored = False
        if self._exact is not None and scope.exact_key is not None:
            try:
                stored = await self._exact.store(
                    scope.exact_key, answer, content_class=content_class, tags=()
                )
            except CacheError as exc:
                _log.warning("exact cache write failed: %s", exc)
        ttl = self._ttl_by_class.get(content_class, self._ttl_by_class.get(CLASS_DEFAULT, 0.0))
        if self._semantic is not None and scope.semantic_question is not None and ttl > 0:
            try:
                fresh = await self._semantic.store(
                    scope.semantic_question,
                    self._encoder.encode(answer),
                    tenant=scope.tenant,
                    tier=scope.partition,
                    ttl_s=ttl,
                    memo=scope.question_vector,
                )
                stored = fresh or stored
            except (EmbeddingError, CacheError) as exc:
                _log.warning("semantic cache write failed: %s", exc)
        return f"{'stored' if stored else 'not_stored'}:{content_class}"


def _material(request: CompletionRequest, kept: dict[str, Any]) -> dict[str, Any]:
    # Forwarded protocol headers (``anthropic-beta``) can change the answer: they are keyed.
    if not request.headers:
        return kept
    return {**kept, "__headers__": {k.lower(): v for k, v in request.headers.items()}}


def _first_text(completion: dict[str, Any]) -> str:
    for choice in completion.get("choices") or ():
        content = (choice.get("message") or {}).get("content")
        if isinstance(content, str):
            return content
    return ""


def _describe_lookup(traced: Span, lookup: SemanticLookup) -> None:
    # The verdict the response reports: a partition with no candidate is a plain miss.
    reason = "miss" if lookup.reason == "empty" else lookup.reason
    result = "hit" if lookup.entry is not None else reason
    traced.set_attribute("frugal.cache.result", result)
    traced.set_attribute("frugal.cache.score", round(lookup.score, 4))
