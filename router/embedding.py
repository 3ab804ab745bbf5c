"""`EmbeddingRouter`: k-nearest-neighbour vote over labelled example queries.

The seed's follow-up idea ("use embedding similarity to tell FAQ queries from technical
diagnosis"), with the rules kept around: they decide the shape of a conversation first and
answer whenever the neighbours do not agree clearly enough.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cache.base import Embedder
from cache.errors import EmbeddingError
from cache.types import Message
from router.base import RouteDecision, Tier
from router.examples import RouteExample
from router.rules import RuleRouter, last_user_text

_QUOTE_CHARS = 60  # an example quoted in a reason is cut to this many characters
# Han, kana and hangul: the scripts an English-only embedder cannot tell apart.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


class EmbeddingRouter:
    """Routes by the tiers of the ``k`` most similar example queries, weighted by cosine.

    Order of the checks, first decision wins:

    1. ``fallback.shape_rule`` (too many turns, message too long) → strong. These need no
       semantics, and a long message would be truncated by the embedder anyway.
    2. Embed the last user message, take the ``k`` nearest examples, sum their (non-negative)
       similarities per tier. The winner's share minus the loser's share is the margin.
    3. If the best similarity is below ``min_similarity`` (nothing like it in the examples), the
       margin is below ``margin`` (neighbours disagree), there is no user text, or the embedder
       fails, the ``fallback`` rules decide and the reason says why:
       ``"embedding: unsure (margin 0.08) → rules: technical keyword: deploy"``.
       With ``defer_cjk`` (the default), text written mostly in Chinese, Japanese or Korean goes
       straight to the rules: all-MiniLM-L6-v2 is English-only and scores unrelated Chinese
       questions 0.7-0.98 alike, so its vote there is noise. Turn it off with a multilingual
       embedder (e.g. OpenAI's).

    A confident vote overrides the keyword rule in both directions ("my promo code shows an
    error" can go cheap, "the export cuts rows off" can go strong). Build it with `create`,
    which embeds the examples once; each `route` then costs one embedding and one small
    matrix-vector product.
    """

    def __init__(
        self,
        embedder: Embedder,
        examples: Sequence[RouteExample],
        vectors: npt.NDArray[np.float32],
        *,
        cheap_model: str,
        strong_model: str,
        fallback: RuleRouter,
        k: int = 7,
        margin: float = 0.15,
        min_similarity: float = 0.3,
        defer_cjk: bool = True,
    ) -> None:
        if not examples:
            raise ValueError("at least one example is needed")
        if vectors.ndim != 2 or vectors.shape[0] != len(examples):
            raise ValueError(f"vectors must be ({len(examples)}, dim), got {vectors.shape}")
        if k < 1 or not 0.0 <= margin <= 1.0 or not -1.0 <= min_similarity <= 1.0:
            raise ValueError("need k >= 1, margin in [0, 1], min_similarity in [-1, 1]")
        self._embedder = embedder
        self._texts = [e.text for e in examples]
        self._strong = np.array([e.tier == "strong" for e in examples], dtype=bool)
        self._vectors = _normalised(vectors)
        self.cheap_model = cheap_model
        self.strong_model = strong_model
        self.fallback = fallback
        self.k = min(k, len(examples))
        self.margin = margin
        self.min_similarity = min_similarity
        self.defer_cjk = defer_cjk

    @classmethod
    async def create(
        cls,
        embedder: Embedder,
        examples: Sequence[RouteExample],
        *,
        cheap_model: str,
        strong_model: str,
        fallback: RuleRouter,
        k: int = 7,
        margin: float = 0.15,
        min_similarity: float = 0.3,
        defer_cjk: bool = True,
        batch_size: int = 64,
    ) -> EmbeddingRouter:
        """Embed ``examples`` in batches of ``batch_size`` and build the router.

        Raises `cache.errors.EmbeddingError` when the examples cannot be embedded: start-up
        should fail loudly (or choose `RuleRouter`) rather than route on half the examples.
        """
        if batch_size < 1 or not examples:
            raise ValueError("need batch_size >= 1 and at least one example")
        texts = [e.text for e in examples]
        batches = [
            await embedder.embed(texts[start : start + batch_size])
            for start in range(0, len(texts), batch_size)
        ]
        vectors = np.concatenate(batches).astype(np.float32, copy=False)
        return cls(
            embedder,
            examples,
            vectors,
            cheap_model=cheap_model,
            strong_model=strong_model,
            fallback=fallback,
            k=k,
            margin=margin,
            min_similarity=min_similarity,
            defer_cjk=defer_cjk,
        )

    async def route(
        self, messages: Sequence[Message], *, earlier_turns: int = 0
    ) -> RouteDecision:
        """Return the shape rule's, the vote's or the fallback's decision, in that order."""
        shape = self.fallback.shape_rule(messages, earlier_turns=earlier_turns)
        if shape is not None:
            return self._decision("strong", shape)
        text = last_user_text(messages)
        if not text:
            return await self._fall_back("no user text", messages, earlier_turns)
        if self.defer_cjk and _mostly_cjk(text):
            return await self._fall_back("CJK text", messages, earlier_turns)
        try:
            query = await self._embedder.embed([text])
        except EmbeddingError:
            # Routing must not fail a request the rules can still route.
            return await self._fall_back("embedder failed", messages, earlier_turns)
        return await self._vote(query[0], messages, earlier_turns)

    async def _vote(
        self, query: npt.NDArray[np.float32], messages: Sequence[Message], earlier_turns: int
    ) -> RouteDecision:
        sims = self._vectors @ _normalised(query.reshape(1, -1))[0]
        nearest = np.argpartition(-sims, self.k - 1)[: self.k]
        nearest = nearest[np.argsort(-sims[nearest], kind="stable")]
        best = float(sims[nearest[0]])
        if best < self.min_similarity:
            return await self._fall_back(
                f"unsure (best {best:.2f} < {self.min_similarity:.2f})", messages, earlier_turns
            )
        weights = np.clip(sims[nearest], 0.0, None)
        is_strong = self._strong[nearest]
        total = float(weights.sum())
        strong_share = float(weights[is_strong].sum()) / total if total > 0 else 0.5
        lead = abs(2.0 * strong_share - 1.0)  # winner's share minus loser's share
        if lead < self.margin:
            return await self._fall_back(f"unsure (margin {lead:.2f})", messages, earlier_turns)
        tier: Tier = "strong" if strong_share > 0.5 else "cheap"
        voters = nearest[is_strong] if tier == "strong" else nearest[~is_strong]
        top = int(voters[0])  # nearest example of the winning tier
        reason = (
            f"embedding: {len(voters)}/{len(nearest)} neighbours {tier} "
            f"(top: '{_quote(self._texts[top])}' {float(sims[top]):.2f})"
        )
        return self._decision(tier, reason)

    async def _fall_back(
        self, why: str, messages: Sequence[Message], earlier_turns: int
    ) -> RouteDecision:
        decided = await self.fallback.route(messages, earlier_turns=earlier_turns)
        return self._decision(decided.tier, f"embedding: {why} → rules: {decided.reason}")

    def _decision(self, tier: Tier, reason: str) -> RouteDecision:
        model = self.strong_model if tier == "strong" else self.cheap_model
        return RouteDecision(tier=tier, model=model, reason=reason)


def _normalised(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # Embedders promise unit rows; renormalising costs nothing at this size and keeps a
    # sloppy embedder from turning the cosine vote into a length vote.
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    result: npt.NDArray[np.float32] = matrix / norms
    return result


def _mostly_cjk(text: str) -> bool:
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk >= len(_LATIN.findall(text))


def _quote(text: str) -> str:
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"
