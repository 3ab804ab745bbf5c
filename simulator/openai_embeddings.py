"""``/v1/embeddings`` in OpenAI's wire format: deterministic unit vectors, real token counts."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from aiohttp import web

from simulator.admission import admit, cut_connection, decode_body, malformed_json_response
from simulator.answer import paced
from simulator.errors import error_response
from simulator.openai_wire import Embedding, EmbeddingList, EmbeddingRequest, EmbeddingUsage
from simulator.state import SIM_STATE
from simulator.tokens import count_text_tokens, encoding_for_model

_encoder = msgspec.json.Encoder()


def embedding_vector(text: str, dim: int) -> npt.NDArray[np.float32]:
    """A unit vector determined by ``text`` alone (same text, same vector, any process)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _embedding_inputs(raw: str | list[Any], model: str) -> tuple[list[str], int] | str:
    # Returns (texts, prompt tokens) or an error message.
    if isinstance(raw, str):
        return [raw], count_text_tokens(raw, model)
    if not raw:
        return "input must not be empty"
    if all(isinstance(item, int) for item in raw):
        raw = [raw]
    texts: list[str] = []
    tokens = 0
    enc = encoding_for_model(model)
    for item in raw:
        if isinstance(item, str):
            texts.append(item)
            tokens += count_text_tokens(item, model)
        elif isinstance(item, list) and all(isinstance(t, int) for t in item):
            texts.append(enc.decode(item))
            tokens += len(item)
        else:
            return "input must be a string, a list of strings, or token arrays"
    return texts, tokens


async def embeddings(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings: deterministic unit vectors, real prompt token counts."""
    state = request.app[SIM_STATE]
    state.count_request("embeddings")
    admitted = await admit(request, state, "openai")
    if isinstance(admitted, web.Response):
        return admitted
    body = decode_body(await request.read(), EmbeddingRequest, "openai")
    if isinstance(body, web.Response):
        return body
    parsed = _embedding_inputs(body.input, body.model)
    if isinstance(parsed, str):
        return error_response("openai", "bad_request", parsed)
    texts, tokens = parsed
    dim = body.dimensions or state.config.embedding_dim
    if dim < 1:
        return error_response("openai", "bad_request", "dimensions must be at least 1")
    if admitted.fault == "disconnect":
        return cut_connection(request)
    async for _ in paced([""], admitted.knobs.pace):
        pass  # only the time to first token applies: embeddings aren't streamed
    if admitted.fault == "malformed":
        return malformed_json_response()
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dim)
        value: list[float] | str = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode()
            if body.encoding_format == "base64"
            else vector.tolist()
        )
        data.append(Embedding(index=index, embedding=value))
    state.stats.embedding_inputs += len(texts)
    state.stats.prompt_tokens += tokens
    state.stats.responses_ok += 1
    result = EmbeddingList(data, body.model, EmbeddingUsage(tokens, tokens))
    return web.Response(body=_encoder.encode(result), content_type="application/json")
