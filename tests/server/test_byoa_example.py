"""The README's "Bring your own agent" example, run as shown: ``examples/shop/frugal.toml``
with its knowledge-base folder, its HTTP tool (``orders_api.py``) and its MCP server."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import aiohttp
import msgspec
import pytest
from aiohttp import web

from server.config import load_settings
from tests.support.chat import openai_env
from tests.support.cost_http import sse_data
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[2] / "examples" / "shop"


def orders_app() -> web.Application:
    spec = importlib.util.spec_from_file_location("orders_api", EXAMPLE / "orders_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: web.Application = module.app()
    return app


async def test_the_example_answers_with_its_kb_http_tool_and_mcp_server(
    tmp_path: Path,
    sim: RunningSimulator,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "shop")
    # `command = "python"` is the interpreter on PATH, as in a shell with the venv active.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    runner = web.AppRunner(orders_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    env = {
        **openai_env(sim),
        "SHOP_API_URL": f"http://127.0.0.1:{port}",
        "SHOP_API_TOKEN": "dev-token",
    }
    try:
        settings = load_settings(env, config_file=tmp_path / "shop" / "frugal.toml")
        async with run_gateway(settings) as gw:
            question = "What is the status of order 1234 and the warehouse inventory of kettle?"
            async with http.get(f"{gw.base_url}/chat/stream", params={"message": question}) as r:
                events = sse_data(await r.text())
            results = {
                e["name"]: e
                for e in (msgspec.json.decode(d) for n, d in events if n == "tool_result")
            }
            assert set(results) == {"order_status", "inventory"}
            assert all(r["ok"] for r in results.values()), results
            text = "".join(msgspec.json.decode(d)["text"] for n, d in events if n == "token")
            assert '"order.status":"shipped"' in text and "B-17" not in text

            question = "Search the handbook: how long does descaling the Nimbus take?"
            async with http.post(f"{gw.base_url}/chat", json={"message": question}) as r:
                body = await r.json()
            assert [t["name"] for t in body["tools"]] == ["kb_search"]
            assert body["sources"][0] == "handbook:manual.pdf@0"
            assert [c["purpose"] for c in body["calls"]] == ["tools", "answer"]
    finally:
        await runner.cleanup()
