"""OpenAIEmbedder against the upstream simulator over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pytest

from agent.base import Embedder
from agent.errors import AuthError, EmbeddingError, ProtocolError, UpstreamTimeout
from agent.http import create_http_session
from agent.openai_embedder import OpenAIEmbedder
from tests.support.simulator import RunningSimulator

TEXTS = ["refund policy", "where is my order?", "reset my password", "refund policy"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=4, connect_timeout_s=2.0) as http:
        yield http


def make_embedder(
    sim: RunningSimulator,
    session: aiohttp.ClientSession,
    *,
    dim: int = 1536,
    api_key: str = "sk-test",
    fault: str | None = None,
    timeout_s: float = 5.0,
) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        session,
        base_url=f"{sim.base_url}/v1",
        api_key=api_key,
        dim=dim,
        timeout_s=timeout_s,
        extra_headers={"x-sim-fault": fault} if fault else None,
    )


class TestEmbed:
    @pytest.mark.anyio
    async def test_returns_normalised_float32_rows_in_input_order(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        embedder = make_embedder(sim, session, dim=64)
        assert isinstance(embedder, Embedder)
        matrix = await embedder.embed(TEXTS)
        assert matrix.shape == (4, 64) and matrix.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(matrix[0], matrix[3])  # same text, same vector
        # Each row belongs to its own text: embedding one text alone gives the same row.
        alone = await embedder.embed([TEXTS[2]])
        np.testing.assert_allclose(alone[0], matrix[2], rtol=1e-6)
        assert sim.stats().embedding_inputs == 5

    @pytest.mark.anyio
    async def test_default_width_and_name(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        embedder = make_embedder(sim, session)
        assert embedder.dim == 1536
        assert "text-embedding-3-small" in embedder.name
        assert (await embedder.embed(["hello"])).shape == (1, 1536)

    @pytest.mark.anyio
    async def test_empty_input_makes_no_request(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        matrix = await make_embedder(sim, session, dim=8).embed([])
        assert matrix.shape == (0, 8)
        assert sim.stats().requests.get("embeddings", 0) == 0


class TestFailures:
    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("kwargs", "cause"),
        [
            ({"api_key": "invalid"}, AuthError),
            ({"fault": "malformed"}, ProtocolError),
            ({"fault": "hang", "timeout_s": 0.3}, UpstreamTimeout),
        ],
    )
    async def test_failure_lists_every_input_as_failed(
        self,
        sim: RunningSimulator,
        session: aiohttp.ClientSession,
        kwargs: dict[str, Any],
        cause: type[Exception],
    ) -> None:
        with pytest.raises(EmbeddingError) as caught:
            await make_embedder(sim, session, dim=8, **kwargs).embed(TEXTS)
        assert caught.value.failed_indexes == [0, 1, 2, 3]
        assert isinstance(caught.value.__cause__, cause)
