"""Helpers for end-to-end tests of ``POST /chat``: provider settings that point the gateway at
the upstream simulator, one-call questions, and what the simulator received in between."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support.simulator import RunningSimulator


def openai_env(sim: RunningSimulator) -> dict[str, str]:
    """Environment variables sending OpenAI-wire traffic (gpt-*, embeddings) to ``sim``."""
    return {"OPENAI_BASE_URL": f"{sim.base_url}/v1", "OPENAI_API_KEY": "k"}


def anthropic_env(sim: RunningSimulator) -> dict[str, str]:
    """Environment variables sending Anthropic-wire traffic (claude-*) to ``sim``."""
    return {"ANTHROPIC_BASE_URL": sim.base_url, "ANTHROPIC_API_KEY": "k"}


async def ask(
    http: aiohttp.ClientSession, base_url: str, message: str, **fields: str
) -> dict[str, Any]:
    """POST ``{"message": message, **fields}`` to ``/chat``; assert a 200 and return the body."""
    async with http.post(f"{base_url}/chat", json={"message": message, **fields}) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
    return body


@dataclass(frozen=True)
class UpstreamDelta:
    """Requests per endpoint (non-zero only) and tokens the simulator billed over a span."""

    requests: dict[str, int]
    prompt_tokens: int
    completion_tokens: int


class UpstreamMeter:
    """Measures what reached the simulator between successive `delta` calls."""

    def __init__(self, sim: RunningSimulator) -> None:
        self._sim = sim
        self._mark = self._read()

    def delta(self) -> UpstreamDelta:
        """What arrived since the previous call (or since construction); moves the mark."""
        now = self._read()
        before = self._mark
        self._mark = now
        requests = {
            endpoint: count - before.requests.get(endpoint, 0)
            for endpoint, count in now.requests.items()
            if count != before.requests.get(endpoint, 0)
        }
        return UpstreamDelta(
            requests,
            now.prompt_tokens - before.prompt_tokens,
            now.completion_tokens - before.completion_tokens,
        )

    def _read(self) -> UpstreamDelta:
        # The simulator mutates its stats in place: copy what we keep.
        stats = self._sim.stats()
        return UpstreamDelta(dict(stats.requests), stats.prompt_tokens, stats.completion_tokens)
