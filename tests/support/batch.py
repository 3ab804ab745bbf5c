"""Shared pieces of the batch-lane tests: lines, settings for a gateway in front of the
simulator with Redis, and the official SDK driven from a worker thread."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from openai import OpenAI

from server.config import load_settings
from server.settings import Settings
from simulator import SimConfig
from tests.support.redis_server import RedisServer
from tests.support.simulator import RunningSimulator, run_simulator

MODEL = "gpt-4o-mini"


def chat_line(custom_id: str, text: str, model: str = MODEL) -> dict[str, Any]:
    body = {"model": model, "temperature": 0, "messages": [{"role": "user", "content": text}]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode()


def lane_settings(
    sim: RunningSimulator, redis: RedisServer, files_dir: Path, prefix: str, **env: str
) -> Settings:
    return load_settings(
        {
            "OPENAI_BASE_URL": f"{sim.base_url}/v1",
            "OPENAI_API_KEY": "k",
            "FRUGAL_REDIS_URL": redis.url,
            "FRUGAL_REDIS_KEY_PREFIX": prefix,
            "FRUGAL_REDIS_TIMEOUT_S": "2",
            "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
            "FRUGAL_BATCH_FILES_DIR": str(files_dir),
            "FRUGAL_BATCH_TICK_S": "0.05",
            "FRUGAL_BATCH_POLL_INITIAL_S": "0.05",
            "FRUGAL_BATCH_POLL_MAX_S": "0.2",
            **env,
        }
    )


@pytest.fixture
async def batch_sim() -> AsyncIterator[RunningSimulator]:
    """A simulator whose batches take 0.1 s."""
    async with run_simulator(SimConfig(batch_delay_s=0.1)) as running:
        yield running


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix of the test's own."""
    return f"batch-{uuid.uuid4().hex[:10]}:"


async def sdk(base_url: str, call: Any) -> Any:
    def run() -> Any:
        with OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0, timeout=30) as client:
            return call(client)

    return await anyio.to_thread.run_sync(run)


def submit(client: OpenAI, lines: list[dict[str, Any]]) -> Any:
    upload = client.files.create(file=("lines.jsonl", jsonl(lines)), purpose="batch")
    return client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def wait_done(client: OpenAI, batch_id: str, timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not end: {batch.status}")


def read_lines(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    text = client.files.content(file_id).text
    return {item["custom_id"]: item for item in map(json.loads, text.splitlines())}


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return await response.json()
