"""`OpenAIEmbedder`: the `Embedder` for OpenAI's embeddings endpoint, one request per call.

Batching and concurrency limits belong to `BatchEmbedder`, which wraps this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aiohttp
import numpy as np
import numpy.typing as npt

from agent import openai_wire as wire
from agent.errors import EmbeddingError, ProtocolError, ProviderError
from agent.http import json_timeout, map_aiohttp_errors, raise_for_status
from agent.tracing import trace_headers


class OpenAIEmbedder:
    """Embeds texts with ``POST {base_url}/embeddings`` (``base_url`` includes ``/v1``).

    Returns L2-normalised float32 rows in input order (the response is sorted by ``index``).
    ``dimensions`` is sent for ``text-embedding-3*`` models, which can shorten their vectors.
    Any failure raises `EmbeddingError` listing every input as failed, chained to the
    provider error. ``extra_headers`` go with every request. The session is borrowed.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        model: str = "text-embedding-3-small",
        dim: int = 1536,
        timeout_s: float = 30.0,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._dim = dim
        self._timeout_s = timeout_s
        self._headers = {
            "authorization": f"Bearer {api_key}",
            "content-type": "application/json",
            **(extra_headers or {}),
        }

    @property
    def name(self) -> str:
        return f"openai:{self._model}:{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return a ``(len(texts), dim)`` matrix; raises `EmbeddingError` on any failure."""
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        try:
            return await self._embed(list(texts))
        except ProviderError as exc:
            raise EmbeddingError(
                f"embedding {len(texts)} texts failed: {exc}",
                failed_indexes=list(range(len(texts))),
            ) from exc

    async def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        dimensions = self._dim if self._model.startswith("text-embedding-3") else None
        body = wire.encoder.encode(
            wire.EmbeddingRequest(model=self._model, input=texts, dimensions=dimensions)
        )
        with map_aiohttp_errors("openai-embeddings"):
            async with self._session.post(
                self._url,
                data=body,
                headers=trace_headers(self._headers),  # joins the request's trace, if any
                timeout=json_timeout(self._session, self._timeout_s),
            ) as response:
                await raise_for_status(response, provider="openai-embeddings")
                decoded = wire.embedding_decoder.decode(await response.read())
        items = sorted(decoded.data, key=lambda item: item.index)
        if [item.index for item in items] != list(range(len(texts))):
            raise ProtocolError(
                f"expected {len(texts)} embeddings indexed 0..{len(texts) - 1}, "
                f"got indexes {[item.index for item in items][:10]}",
                provider="openai-embeddings",
            )
        if any(len(item.embedding) != self._dim for item in items):
            raise ProtocolError(
                f"expected vectors of {self._dim} floats", provider="openai-embeddings"
            )
        matrix = np.array([item.embedding for item in items], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        # A zero vector stays zero instead of turning into NaNs.
        matrix /= np.where(norms > 0.0, norms, 1.0)
        return matrix
