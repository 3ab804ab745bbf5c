"""A knowledge base of mixed documents (committed fixtures, a pdf among them) behind an agent:
answers cite the chunk they used; re-ingesting after an edit invalidates the cached answers
built on that document and only those; deleting a document does the same."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from server.config import load_settings
from tests.support.cost_http import FAST_SIMULATED, sse_data
from tests.support.gateway import RunningGateway, run_gateway

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb_docs"
ADMIN = "kb-admin-key-0123456789abcdef"
CONFIG = """
[agents]
default = "handbook"

[[agents.definitions]]
name = "handbook"
prompt = "Answer from the handbook."
planner = "rules"
knowledge_bases = ["docs"]

[[agents.knowledge_bases]]
name = "docs"
paths = ["docs"]
chunk_tokens = 64
overlap_tokens = 8
"""
KETTLE = "How long does descaling the Nimbus kettle take?"
SCARVES = "Can I return Zephyr alpaca scarves?"


async def ask(http: aiohttp.ClientSession, gw: RunningGateway, message: str) -> dict[str, Any]:
    async with http.post(f"{gw.base_url}/chat", json={"message": message}) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
    return body


async def admin(
    http: aiohttp.ClientSession, gw: RunningGateway, path: str, body: object = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with http.post(f"{gw.base_url}{path}", json=body, headers=headers) as response:
        data: dict[str, Any] = await response.json()
        assert response.status == 200, data
    return data


async def test_answers_cite_chunks_and_edits_invalidate_only_their_answers(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    shutil.copytree(FIXTURES, tmp_path / "docs")
    (tmp_path / "frugal.toml").write_text(CONFIG)
    env = {**FAST_SIMULATED, "FRUGAL_SERVER_ADMIN_KEY": ADMIN}
    settings = load_settings(env, config_file=tmp_path / "frugal.toml")
    async with run_gateway(settings) as gw:
        kettle = await ask(http, gw, KETTLE)
        assert kettle["sources"][0] == "docs:manual.pdf@0"  # the pdf's chunk
        scarves = await ask(http, gw, SCARVES)
        assert scarves["sources"][0] == "docs:returns.md@0"
        assert (await ask(http, gw, KETTLE))["cache"] == "exact"
        assert (await ask(http, gw, SCARVES))["cache"] == "exact"

        # Edit one document and re-ingest: only the answers built on it are dropped.
        (tmp_path / "docs" / "returns.md").write_text(
            "# Returns for alpaca scarves\n\nZephyr alpaca scarves: returns within 60 days.\n"
        )
        change = await admin(http, gw, "/admin/kb/docs/ingest")
        assert (change["changed"], change["added"], change["removed"]) == (["returns.md"], [], [])
        assert change["embedded"] == 1 and change["exact_removed"] >= 1
        again = await ask(http, gw, SCARVES)
        assert again["cache"] is None and again["sources"][0] == "docs:returns.md@0"
        assert (await ask(http, gw, KETTLE))["cache"] == "exact"

        # Delete the pdf: its answers go, and it is no longer cited.
        change = await admin(http, gw, "/admin/kb/docs/delete", {"doc_ids": ["manual.pdf"]})
        assert change["removed"] == ["manual.pdf"] and change["exact_removed"] >= 1
        after = await ask(http, gw, KETTLE)
        assert after["cache"] is None
        assert not any(s.startswith("docs:manual.pdf") for s in after["sources"])

        url = f"{gw.base_url}/chat/stream?message=Wash+merino+socks+at+what+temperature%3F"
        async with http.get(url) as response:
            events = sse_data(await response.text())
        done = msgspec.json.decode(events[-1][1])
        assert events[-1][0] == "done" and done["sources"][0] == "docs:care.html@0"
