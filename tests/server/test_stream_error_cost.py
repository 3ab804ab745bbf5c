"""A ``/chat/stream`` that fails says in its ``error`` event what it was billed, so the sum a
caller sees equals ``/stats`` (issue 16, defect 13). Real simulator, real gateway."""

from __future__ import annotations

import aiohttp
import pytest

from server.config import load_settings
from simulator import SimConfig
from tests.server.test_chat_stream import read_stream
from tests.support.cost_http import stats_of
from tests.support.gateway import run_gateway
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio


async def test_a_stream_cut_midway_reports_its_cost_in_the_error_event() -> None:
    async with run_simulator(SimConfig(output_tokens=40, rate_disconnect=1.0)) as sim:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                "OPENAI_API_KEY": "k",
                "FRUGAL_FALLBACK_CONTINUE_MID_STREAM": "false",
            }
        )
        async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
            stream = await read_stream(f"{gw.base_url}/chat/stream", message="Where is my order?")
            stats = await stats_of(http, gw.base_url)
    assert stream.names()[-1] == "error" and "token" in stream.names()
    error = stream.data("error")
    assert error["code"] == "stream_interrupted"
    assert error["cost_usd_micros"] == stats["cost_usd_micros"] > 0
