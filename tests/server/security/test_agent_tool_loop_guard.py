"""The guard around the model-driven tool loop: a tool result carrying personal data is
redacted before the model reads it, and the streamed answer is restored for the caller."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import msgspec
import pytest

from server.config import load_settings
from tests.server.security.conftest import GUARDED
from tests.support.chat import openai_env
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator
from tests.support.tool_server import run_tool_server

pytestmark = pytest.mark.anyio

EMAIL = b"jane.roe@example.com"
CONFIG = """
[agents]
default = "crm"

[[agents.definitions]]
name = "crm"
prompt = "You look up contacts."
tools = ["contact"]

[[agents.http_tools]]
name = "contact"
description = "Contact email of the account manager"
url = "{base}/contact"
"""


async def test_tool_results_are_redacted_in_the_tool_loop(
    tmp_path: Path, sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    async with run_tool_server() as tools:
        path = tmp_path / "frugal.toml"
        path.write_text(CONFIG.replace("{base}", tools.base_url))
        settings = load_settings({**openai_env(sim), **GUARDED}, config_file=path)
        async with run_gateway(settings) as gw:
            payload = {"message": "What is the contact email of my account manager?"}
            async with http.post(f"{gw.base_url}/chat", json=payload) as response:
                body = msgspec.json.decode(await response.read())
                assert response.status == 200, body
    sent = [r.raw for r in sim.state.received() if r.path == "/v1/chat/completions"]
    assert len(sent) == 2 and b"<EMAIL_1>" in sent[1] and EMAIL not in sent[1]
    assert [t["name"] for t in body["tools"]] == ["contact"]
    # The model quoted the placeholder; the caller gets the real value back (reversible).
    assert EMAIL.decode() in body["answer"]
