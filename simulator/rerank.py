"""``/v1/rerank`` as Jina, vLLM and Hugging Face TEI serve it for cross-encoder rerankers (and
Cohere, less its billing units): deterministic relevance scores, real token counts.

The score stands in for a cross-encoder by rewarding what bag-of-words retrieval cannot see,
the query's words in the query's order: 0.7 x the longest run of consecutive query words
found consecutively in the document (as a share of the query) + 0.3 x the share of distinct
query words the document holds. A document with the exact phrase ranks above one that only
repeats the words, so the step visibly reorders hybrid retrieval.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import msgspec
from aiohttp import web

from simulator.admission import admit, decode_body
from simulator.errors import error_response
from simulator.state import SIM_STATE
from simulator.tokens import count_text_tokens

_WORD = re.compile(r"[a-z0-9]+")
_encoder = msgspec.json.Encoder()


class RerankRequest(msgspec.Struct, frozen=True):
    """The body of ``POST /v1/rerank``; documents are strings or ``{"text": ...}``."""

    model: str
    query: str
    documents: list[str | dict[str, Any]]
    top_n: int | None = None
    return_documents: bool = False


def relevance(query: str, document: str) -> float:
    """The simulated relevance of ``document`` to ``query``, in [0, 1] (see the module)."""
    asked = _WORD.findall(query.lower())
    words = _WORD.findall(document.lower())
    if not asked or not words:
        return 0.0
    longest = 0
    for start in range(len(words)):
        for offset in range(len(asked)):
            run = 0
            while (
                start + run < len(words)
                and offset + run < len(asked)
                and words[start + run] == asked[offset + run]
            ):
                run += 1
            longest = max(longest, run)
    present = len(set(asked) & set(words)) / len(set(asked))
    return round(0.7 * longest / len(asked) + 0.3 * present, 6)


async def rerank(request: web.Request) -> web.StreamResponse:
    """POST /v1/rerank: results best first, ``usage.total_tokens`` (the query is read once
    per document, as a cross-encoder does)."""
    state = request.app[SIM_STATE]
    state.count_request("rerank")
    admitted = await admit(request, state, "openai")
    if isinstance(admitted, web.Response):
        return admitted
    body = decode_body(await request.read(), RerankRequest, "openai")
    if isinstance(body, web.Response):
        return body
    texts = [d if isinstance(d, str) else str(d.get("text", "")) for d in body.documents]
    if not texts:
        return error_response("openai", "bad_request", "documents must not be empty")
    scored = sorted(
        ((index, relevance(body.query, text)) for index, text in enumerate(texts)),
        key=lambda pair: (-pair[1], pair[0]),
    )[: body.top_n or len(texts)]
    tokens = count_text_tokens(body.query, body.model) * len(texts) + sum(
        count_text_tokens(text, body.model) for text in texts
    )
    results = []
    for index, score in scored:
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if body.return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    state.stats.prompt_tokens += tokens
    state.stats.responses_ok += 1
    answer = {
        "id": f"rerank-{secrets.token_hex(8)}",
        "model": body.model,
        "results": results,
        "usage": {"total_tokens": tokens},
    }
    return web.Response(body=_encoder.encode(answer), content_type="application/json")
