"""How much the batch lane saves on a 1,000-line batch: the share answered from the cache, the
share sent to the provider's own batch API at the batch price, and the cost against the same
lines sent interactively.

`frugal serve` (Redis, semantic cache off) in front of `frugal upstream`; ``WARM`` of the
questions are asked interactively first (so their lines hit the exact cache), then the whole
batch is uploaded, run and read back over the lane's HTTP endpoints.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import aiohttp
import anyio
import msgspec

from bench.gateway_process import JSON_HEADERS, MODEL, gateway, questions, simulator
from bench.redis_process import start_redis_server

LINES = 1_000
WARM = 300
_encoder = msgspec.json.Encoder()


def _body(question: str) -> dict[str, Any]:
    return {"model": MODEL, "temperature": 0, "messages": [{"role": "user", "content": question}]}


async def _run(base: str) -> tuple[dict[str, Any], dict[str, Any], float]:
    asked = questions(LINES)
    auth = {"authorization": JSON_HEADERS["authorization"]}
    async with aiohttp.ClientSession() as http:
        limiter = anyio.CapacityLimiter(16)

        async def warm(question: str) -> None:
            async with limiter:
                url = f"{base}/v1/chat/completions"
                async with http.post(
                    url, data=_encoder.encode(_body(question)), headers=JSON_HEADERS
                ) as r:
                    r.raise_for_status()

        async with anyio.create_task_group() as group:
            for question in asked[:WARM]:
                group.start_soon(warm, question)
        lines = b"".join(
            _encoder.encode(
                {
                    "custom_id": f"q{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": _body(q),
                }
            )
            + b"\n"
            for i, q in enumerate(asked)
        )
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", lines, filename="lines.jsonl")
        started = time.perf_counter()
        async with http.post(f"{base}/v1/files", data=form, headers=auth) as r:
            file_id = (await r.json())["id"]
        create = {
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
        async with http.post(f"{base}/v1/batches", json=create, headers=auth) as r:
            batch = await r.json()
        while batch["status"] not in ("completed", "failed", "cancelled", "expired"):
            await anyio.sleep(0.1)
            async with http.get(f"{base}/v1/batches/{batch['id']}", headers=auth) as r:
                batch = await r.json()
        elapsed = time.perf_counter() - started
        async with http.get(f"{base}/stats", headers=auth) as r:
            lane = (await r.json())["batch"]
    return batch, lane, elapsed


def main() -> None:
    with (
        start_redis_server() as redis,
        tempfile.TemporaryDirectory(prefix="frugal-batch-") as files,
        simulator(["--batch-delay-s", "0.5"]) as upstream,
        gateway(
            upstream.url,
            {
                "FRUGAL_REDIS_URL": redis.url,
                "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
                "FRUGAL_BATCH_FILES_DIR": files,
                "FRUGAL_BATCH_TICK_S": "0.1",
                "FRUGAL_BATCH_POLL_INITIAL_S": "0.2",
                "FRUGAL_BATCH_POLL_MAX_S": "1",
            },
        ) as server,
    ):
        batch, lane, elapsed = anyio.run(_run, server.url)
    counts = batch["request_counts"]
    total = max(lane["requests"], 1)
    cost, interactive = lane["cost_usd_micros"], lane["interactive_usd_micros"]
    print(f"batch of {counts['total']} lines: {batch['status']} in {elapsed:.1f} s")
    print(f"  completed {counts['completed']}, failed {counts['failed']}")
    print(f"  from cache: {lane['cache_hits']} ({lane['cache_hits'] / total:.0%})")
    print(f"  provider batch: {lane['provider_batched']} ({lane['provider_batched'] / total:.0%})")
    print(f"  deferred queue: {lane['deferred']}")
    print(
        f"  cost {cost} micro-USD vs {interactive} interactive: saved {lane['saved_usd_micros']}"
        f" ({1 - cost / max(interactive, 1):.1%})"
    )


if __name__ == "__main__":
    main()
