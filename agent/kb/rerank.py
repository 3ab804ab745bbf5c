"""`ProviderReranker`: the optional rerank step of knowledge-base retrieval, through a
provider's ``/rerank`` endpoint.

The endpoint is the one Cohere, Jina, Voyage, vLLM and Hugging Face TEI serve for
cross-encoder rerankers: ``POST {base_url}/rerank`` with ``{"model", "query", "documents",
"top_n"}``, answered ``{"results": [{"index", "relevance_score"}], "usage": {"total_tokens"}}``
(Cohere reports ``meta.billed_units.search_units`` instead; without a token count the tokens
are counted here and the cost is flagged estimated). The model is a registry model (``kind =
"rerank"``), so its provider, key and price come from the registry; the cost is billed at the
model's input price and recorded under the turn by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import msgspec

from agent.core.costing import CostModel
from agent.errors import ProtocolError
from agent.http import post_json
from agent.tokens import count_text_tokens
from agent.tools.base import ModelCall
from agent.types import Usage

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class Reranked:
    """The documents' indices best first with their relevance scores, and the call's cost."""

    order: list[int]
    scores: list[float]
    call: ModelCall


class Reranker(Protocol):
    """Orders documents by relevance to a query."""

    async def rerank(self, query: str, documents: Sequence[str]) -> Reranked:
        """Every document's index, most relevant first. Raises `agent.errors.ProviderError`
        (or a subclass) when the provider refuses, fails or answers malformed."""
        ...


class ProviderReranker:
    """A `Reranker` on ``{base_url}/rerank`` for registry model ``model``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        model: str,
        upstream_model: str,
        costs: CostModel,
        provider: str,
        timeout_s: float = 3.0,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/rerank"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.model = model
        self._upstream = upstream_model
        self._costs = costs
        self._provider = provider
        self._timeout_s = timeout_s

    async def rerank(self, query: str, documents: Sequence[str]) -> Reranked:
        """Every document's index, most relevant first (see `Reranker`)."""
        body = {
            "model": self._upstream,
            "query": query,
            "documents": list(documents),
            "top_n": len(documents),
        }
        raw = await post_json(
            self._session,
            self._url,
            body=_encoder.encode(body),
            headers=self._headers,
            timeout_s=self._timeout_s,
            provider=self._provider,
        )
        try:
            answer = _decoder.decode(raw)
            ranked = sorted(
                ((int(r["index"]), float(r["relevance_score"])) for r in answer["results"]),
                key=lambda pair: -pair[1],
            )
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(
                f"{self._provider} answered /rerank malformed: {exc}", provider=self._provider
            ) from exc
        seen = [index for index, _ in ranked if 0 <= index < len(documents)]
        missing = [index for index in range(len(documents)) if index not in set(seen)]
        usage = self._usage(answer, query, documents)
        cost = self._costs.cost_usd_micros(self.model, usage)
        call = ModelCall("rerank", self.model, usage, cost or 0, cost is not None)
        scores = {index: score for index, score in ranked}
        order = seen + missing  # a document the provider left out ranks last
        return Reranked(order, [scores.get(index, 0.0) for index in order], call)

    def _usage(self, answer: Any, query: str, documents: Sequence[str]) -> Usage:
        tokens = (
            (answer.get("usage") or {}).get("total_tokens") if isinstance(answer, dict) else None
        )
        if isinstance(tokens, int) and tokens >= 0:
            return Usage(prompt=tokens)
        counted = sum(count_text_tokens(text, self.model) for text in (query, *documents))
        return Usage(prompt=counted, estimated=True)
