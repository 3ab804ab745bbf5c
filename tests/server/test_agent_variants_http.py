"""A/B variants of an agent over HTTP: sticky per session, feedback on an answer, and the
per-variant numbers in ``/stats``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.agents import SUPPORT_AGENT_FILE
from agent.agents.experiments import draw
from server.config import load_settings
from tests.support.cost_http import FAST_SIMULATED
from tests.support.gateway import RunningGateway, run_gateway

pytestmark = pytest.mark.anyio

CONFIG = """
[agents]
default = "ab"
include = ["{support}"]

[[agents.definitions]]
name = "ab"
planner = "rules"
knowledge_bases = ["acme-faq"]
variants = [
  {{ name = "cheap", model = "gpt-4o-mini", weight = 1 }},
  {{ name = "strong", model = "gpt-4o", prompt = "You are Acme's support lead.", weight = 1 }},
]
"""


def test_draw_is_sticky_and_weighted() -> None:
    arms = [("a", 3.0), ("b", 1.0)]
    assert len({draw("x", "session-1", arms) for _ in range(5)}) == 1
    counts = Counter(draw("x", f"s-{i}", arms) for i in range(4000))
    assert 0.7 < counts["a"] / 4000 < 0.8
    assert draw("x", "s", [("a", 0.0), ("b", 1.0)]) == "b"


async def post(
    http: aiohttp.ClientSession, gw: RunningGateway, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{gw.base_url}{path}", json=body) as response:
        return response.status, await response.json()


async def test_variants_are_sticky_scored_and_reported(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "frugal.toml"
    path.write_text(CONFIG.format(support=SUPPORT_AGENT_FILE))
    async with run_gateway(load_settings(FAST_SIMULATED, config_file=path)) as gw:
        seen: dict[str, str] = {}
        answers = 0
        for index in range(12):
            session = f"session-{index}"
            for question in ("Do you ship to Canada?", "How much does shipping cost?"):
                status, body = await post(
                    http, gw, "/chat", {"message": question, "session_id": session}
                )
                assert status == 200, body
                answers += 1
                assert seen.setdefault(session, body["variant"]) == body["variant"]
                assert (
                    body["model"] == {"cheap": "gpt-4o-mini", "strong": "gpt-4o"}[body["variant"]]
                )
        assert set(seen.values()) == {"cheap", "strong"}

        status, scored = await post(
            http, gw, "/chat/feedback", {"request_id": body["request_id"], "score": 5}
        )
        assert (status, scored) == (200, {"agent": "ab", "variant": body["variant"]})
        status, again = await post(
            http, gw, "/chat/feedback", {"request_id": body["request_id"], "score": 1}
        )
        assert (status, again["error"]["code"]) == (404, "not_found")
        status, _ = await post(http, gw, "/chat/feedback", {"request_id": "x", "score": 9})
        assert status == 422

        async with http.get(f"{gw.base_url}/stats") as response:
            stats = await response.json()
        rows = {row["variant"]: row for row in stats["variants"]}
        assert set(rows) == {"cheap", "strong"}
        assert sum(row["requests"] for row in rows.values()) == answers
        assert rows[body["variant"]]["feedback"] == 1
        assert rows[body["variant"]]["mean_score"] == 5.0
        assert all(row["cost_usd_micros"] > 0 for row in rows.values())
