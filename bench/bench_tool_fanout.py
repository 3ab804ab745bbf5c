"""Do a turn's tool calls overlap? Two 200 ms HTTP tools asked for in one model round.

`frugal serve` runs a configured agent (model-driven planner) against the upstream simulator,
which asks for both tools on every question; the tools are an HTTP API answering after 200 ms.
The row compares the turn's measured tool stage with the sum of the two calls' own times, what
running them one after the other would cost.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp
import anyio

from bench.upstream_process import free_port, frugal_command, listening_process
from bench.upstream_process import upstream_simulator as start_simulator

TURNS = 20
DELAY_MS = 200
CONFIG = """
[agents]
default = "bench"

[[agents.definitions]]
name = "bench"
prompt = "Use the tools."
tools = ["weather", "stock"]
cache = {{ answers = false, tool_results = false }}

[[agents.http_tools]]
name = "weather"
description = "Weather forecast for a city"
url = "{api}/weather"
parameters = {{ type = "object", properties = {{ city = {{ type = "string" }} }} }}

[[agents.http_tools]]
name = "stock"
description = "Stock level of a product by sku"
url = "{api}/stock/{{sku}}"
parameters = {{ type = "object", properties = {{ sku = {{ type = "string" }} }} }}
"""


async def run(base: str) -> tuple[list[float], list[float]]:
    stages, sums = [], []
    async with aiohttp.ClientSession() as session:
        for turn in range(TURNS):
            question = f"Weather forecast and stock level, please (turn {turn})"
            async with session.post(f"{base}/chat", json={"message": question}) as response:
                body = await response.json()
                if response.status != 200 or len(body.get("tools", [])) != 2:
                    raise SystemExit(f"unexpected answer: {response.status} {body}")
            stages.append(body["latency_ms"]["tools"])
            sums.append(sum(t["elapsed_ms"] for t in body["tools"]))
    return stages, sums


def main() -> None:
    api_port, port = free_port(), free_port()
    api = [sys.executable, "-m", "bench.tool_api", "--port", str(api_port)]
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "frugal.toml"
        config.write_text(CONFIG.format(api=f"http://127.0.0.1:{api_port}"))
        with (
            start_simulator(["--ttft-ms", "0", "--tokens-per-s", "0"]) as upstream,
            listening_process([*api, "--delay-ms", str(DELAY_MS)], api_port),
        ):
            env = {
                **os.environ,
                "OPENAI_BASE_URL": f"{upstream}/v1",
                "OPENAI_API_KEY": "bench",
                "FRUGAL_CONFIG": str(config),
                "FRUGAL_SERVER_LOG_LEVEL": "warning",
            }
            command = frugal_command("serve", "--host", "127.0.0.1", "--port", str(port))
            with listening_process(command, port, env=env, start_s=60):
                stages, sums = anyio.run(run, f"http://127.0.0.1:{port}")
    stage, total = statistics.median(stages), statistics.median(sums)
    print(f"turns: {TURNS}, two tools of {DELAY_MS} ms each per turn")
    print(f"tool stage, median:                 {stage:7.1f} ms")
    print(f"sum of the two calls, median:       {total:7.1f} ms (one after the other)")
    print(f"fan-out saves:                      {total / stage:7.2f}x")
    if stage > 1.5 * DELAY_MS:
        print("ERROR: the two tools did not overlap", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
