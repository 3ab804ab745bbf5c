"""The deferred queue (arq on a real Redis) paces each provider's lines under its RPM / TPM
limits and, with ``wait_for_budget``, puts off a line whose budget hold does not fit until a
window has room, instead of failing it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from server.config import load_settings
from simulator import SimConfig
from tests.support.batch import (
    chat_line,
    get_json,
    lane_settings,
    prefix,
    read_lines,
    sdk,
    submit,
    wait_done,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

__all__ = ["prefix"]  # fixtures, used by name

# These runs keep Redis busier than most (a rate window, re-queued jobs): on a loaded machine
# the lane's 2 s test timeout is too short for them.
PATIENT_REDIS = {"FRUGAL_REDIS_TIMEOUT_S": "10"}


class TestDeferredQueue:
    async def test_a_providers_request_limit_paces_its_lines_without_failing_them(
        self, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        async with run_simulator(SimConfig(batch_delay_s=0.1)) as sim:
            env = {
                # "auto" lines are routed per line: they wait on the "auto" queue.
                "FRUGAL_BATCH_DEFERRED_LIMITS": "auto=2//4",
                "FRUGAL_BATCH_DEFERRED_LIMIT_WINDOW_S": "1.0",
                **PATIENT_REDIS,
            }
            settings = lane_settings(sim, redis_server, tmp_path / "files", prefix, **env)
            async with run_gateway(settings) as gw:
                lines = [chat_line(f"r{i}", f"paced question {i}", model="auto") for i in range(5)]

                def run(client: OpenAI) -> tuple[Any, dict[str, Any], float]:
                    started = time.monotonic()
                    done = wait_done(client, submit(client, lines).id)
                    took = time.monotonic() - started
                    return done, read_lines(client, done.output_file_id), took

                done, out, took = await sdk(gw.base_url, run)
                stats = await get_json(f"{gw.base_url}/stats")
        assert done.status == "completed" and set(out) == {f"r{i}" for i in range(5)}
        lane = stats["batch"]
        assert lane["deferred"] == 5 and lane["failed"] == 0
        assert lane["deferred_rate_waits"] >= 1 and lane["deferred_retries"] == 0
        # 2 lines per 1 s window: the 5th cannot be sent before the third window opens.
        assert took >= 1.9

    async def test_with_wait_for_budget_a_line_the_budget_cannot_hold_waits_for_room(
        self, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        # A provider batch holds its worst case for the second it runs; while it does, the
        # deferred lines' holds do not fit the hourly cap (nor do two of them together).
        # Worst cases: the provider line 16,000 output tokens at gpt-4o-mini's batch price
        # (~4,800 micro-USD); each routed line 1,000 output tokens at gpt-4o's (~10,000).
        async with run_simulator(SimConfig(batch_delay_s=1.0)) as sim:
            env = {
                "FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS": "12000",
                "FRUGAL_BATCH_WAIT_FOR_BUDGET": "true",
                "FRUGAL_BATCH_DEFERRED_BACKOFF_S": "0.05",
                "FRUGAL_BATCH_DEFERRED_WAIT_MAX_S": "0.2",
                **PATIENT_REDIS,
            }
            settings = lane_settings(sim, redis_server, tmp_path / "files", prefix, **env)
            async with run_gateway(settings) as gw:
                provider_line = chat_line("group", "a long provider batch answer")
                provider_line["body"]["max_tokens"] = 16_000
                routed = [chat_line(f"w{i}", f"waits for room {i}", model="auto") for i in range(3)]
                for line in routed:
                    line["body"]["max_tokens"] = 1_000

                def run(client: OpenAI) -> tuple[Any, dict[str, Any]]:
                    done = wait_done(client, submit(client, [provider_line, *routed]).id)
                    return done, read_lines(client, done.output_file_id)

                done, out = await sdk(gw.base_url, run)
                stats = await get_json(f"{gw.base_url}/stats")
        assert done.status == "completed" and done.request_counts.failed == 0
        assert set(out) == {"group", "w0", "w1", "w2"}
        lane = stats["batch"]
        assert lane["deferred_budget_waits"] >= 1
        assert (lane["provider_batched"], lane["deferred"]) == (1, 3)
        hour = next(use for use in stats["budget"] if use["period"] == "hour")
        assert hour["reserved_usd_micros"] == 0 and 0 < hour["spent_usd_micros"] <= 12_000

    async def test_without_redis_the_in_process_queue_paces_the_same_way(
        self, tmp_path: Path
    ) -> None:
        async with run_simulator(SimConfig(batch_delay_s=0.1)) as sim:
            settings = load_settings(
                {
                    "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                    "OPENAI_API_KEY": "k",
                    "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
                    "FRUGAL_BATCH_FILES_DIR": str(tmp_path / "files"),
                    "FRUGAL_BATCH_TICK_S": "0.05",
                    "FRUGAL_BATCH_DEFERRED_LIMITS": "auto=2/",
                    "FRUGAL_BATCH_DEFERRED_LIMIT_WINDOW_S": "1.0",
                }
            )
            async with run_gateway(settings) as gw:
                lines = [chat_line(f"m{i}", f"in process {i}", model="auto") for i in range(4)]

                def run(client: OpenAI) -> tuple[Any, dict[str, Any]]:
                    done = wait_done(client, submit(client, lines).id)
                    return done, read_lines(client, done.output_file_id)

                done, out = await sdk(gw.base_url, run)
                stats = await get_json(f"{gw.base_url}/stats")
        assert done.status == "completed" and set(out) == {f"m{i}" for i in range(4)}
        assert stats["batch"]["deferred"] == 4 and stats["batch"]["deferred_rate_waits"] >= 1
