"""The batch lane end to end: the official ``openai`` SDK against the gateway, real Redis,
the simulator's own files + batches API over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import openai
import pytest
import redis.asyncio as redis
from openai import OpenAI

from agent.batch import LocalFiles, OpenAIBatchAPI, RedisBatchStore
from agent.batch.lines import parse_input, provider_jsonl
from agent.batch.provider_wire import URLS, provider_body
from agent.batch.wire import BatchJob, BatchObject, ProviderGroup, RequestCounts
from agent.openai_wire import usage_from_dict
from metrics.batch_pricing import batch_price
from metrics.pricing import DEFAULT_PRICES, cost_of
from simulator import SimConfig
from tests.support.batch import (
    MODEL,
    batch_sim,
    chat_line,
    jsonl,
    lane_settings,
    prefix,
    read_lines,
    sdk,
    submit,
    wait_done,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer, free_port
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

__all__ = ["batch_sim", "prefix"]  # fixtures, used by name


class TestBatchLane:
    async def test_cache_hits_provider_batch_and_failed_lines(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix)
        async with run_gateway(settings) as gw:
            # One question answered interactively first: its batch line is a cache hit.
            await sdk(
                gw.base_url,
                lambda c: c.chat.completions.create(
                    model=MODEL, temperature=0, messages=[{"role": "user", "content": "cached q"}]
                ),
            )
            lines = [chat_line("hit", "cached q")]
            lines += [chat_line(f"b{i}", f"batched question {i}") for i in range(4)]
            lines.append(chat_line("x-sim-fail", "this one fails at the provider"))
            lines.append(chat_line("nomodel", "no such model", model="no-such-model-x"))

            def run(client: OpenAI) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
                created = submit(client, lines)
                done = wait_done(client, created.id)
                listed = client.batches.list(limit=5)
                out = read_lines(client, done.output_file_id)
                err = read_lines(client, done.error_file_id)
                return done, listed, out, err

            done, listed, out, err = await sdk(gw.base_url, run)
            assert done.status == "completed"
            assert done.request_counts.total == 7
            assert (done.request_counts.completed, done.request_counts.failed) == (5, 2)
            assert set(out) == {"hit", "b0", "b1", "b2", "b3"}
            assert set(err) == {"x-sim-fail", "nomodel"}
            assert err["nomodel"]["error"]["code"] == "model_not_found"
            assert err["x-sim-fail"]["response"]["status_code"] == 500
            assert out["b0"]["response"]["body"]["object"] == "chat.completion"
            assert listed.data[0].id == done.id
            # One provider batch for the five provider lines; the hit never reached it.
            stats = batch_sim.stats().requests
            assert stats["batches"] == 1
            # chat.completions: the interactive call, and the 4 answered provider lines
            assert stats["chat.completions"] == 1 + 4

            # Money: each batched line at half the interactive price, the hit at zero.
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{gw.base_url}/stats") as response:
                    batch = (await response.json())["batch"]
                async with http.get(f"{gw.base_url}/metrics") as response:
                    metrics = await response.text()
            assert 'frugal_batch_answered_lines{source="provider_batch"} 4' in metrics
            price = DEFAULT_PRICES[MODEL]
            usages = [usage_from_dict(out[f"b{i}"]["response"]["body"]["usage"]) for i in range(4)]
            expected = sum(cost_of(batch_price(price), u) for u in usages)
            interactive = sum(cost_of(price, u) for u in usages)
            assert batch["cost_usd_micros"] == expected
            assert batch["provider_batched"] == 4 and batch["cache_hits"] == 1
            assert batch["saved_usd_micros"] >= interactive - expected

    async def test_cancel_mid_way_keeps_cache_hits_and_cancels_the_rest(
        self, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        async with run_simulator(SimConfig(batch_delay_s=60)) as slow_sim:
            settings = lane_settings(slow_sim, redis_server, tmp_path / "files", prefix)
            async with run_gateway(settings) as gw:

                def run(client: OpenAI) -> tuple[Any, dict[str, Any]]:
                    created = submit(client, [chat_line(f"c{i}", f"slow {i}") for i in range(3)])
                    deadline = time.monotonic() + 10
                    while slow_sim.stats().requests.get("batches", 0) < 1:
                        assert time.monotonic() < deadline, "never submitted"
                        time.sleep(0.02)
                    assert client.batches.cancel(created.id).status == "cancelling"
                    done = wait_done(client, created.id)
                    return done, read_lines(client, done.error_file_id)

                done, errors = await sdk(gw.base_url, run)
                assert done.status == "cancelled"
                assert done.output_file_id is None
                assert {cid: e["error"]["code"] for cid, e in errors.items()} == {
                    f"c{i}": "batch_cancelled" for i in range(3)
                }
                assert slow_sim.stats().requests["batches.cancel"] == 1

    async def test_a_restart_mid_batch_finishes_it_without_resubmitting(
        self, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        async with run_simulator(SimConfig(batch_delay_s=1.0)) as sim:
            settings = lane_settings(sim, redis_server, tmp_path / "files", prefix)
            async with run_gateway(settings) as first:
                created = await sdk(
                    first.base_url,
                    lambda c: submit(c, [chat_line(f"r{i}", f"q{i}") for i in range(3)]),
                )
                with anyio.fail_after(10):
                    while sim.stats().requests.get("batches", 0) < 1:
                        await anyio.sleep(0.02)
            # The first gateway is gone with the provider batch still running.
            async with run_gateway(settings) as second:
                done = await sdk(second.base_url, lambda c: wait_done(c, created.id))
                out = await sdk(second.base_url, lambda c: read_lines(c, done.output_file_id))
            assert done.status == "completed"
            assert set(out) == {"r0", "r1", "r2"}
            assert sim.stats().requests["batches"] == 1

    async def test_bad_requests_answer_in_openais_shape(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix)
        async with run_gateway(settings) as gw:

            def run(client: OpenAI) -> Any:
                with pytest.raises(openai.NotFoundError):
                    client.batches.retrieve("batch_nope")
                with pytest.raises(openai.NotFoundError):
                    client.files.retrieve("file-nope")
                with pytest.raises(openai.BadRequestError):
                    client.batches.create(
                        input_file_id="file-nope",
                        endpoint="/v1/chat/completions",
                        completion_window="24h",
                    )
                with pytest.raises(openai.BadRequestError):
                    client.files.create(file=("x.jsonl", b"{}"), purpose="fine-tune")
                upload = client.files.create(file=("x.jsonl", b"not json\n"), purpose="batch")
                failed = client.batches.create(
                    input_file_id=upload.id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                )
                with pytest.raises(openai.ConflictError):
                    client.batches.cancel(failed.id)
                return failed

            failed = await sdk(gw.base_url, run)
            assert failed.status == "failed"
            assert failed.errors is not None and failed.errors.data


class TestIdempotentSubmission:
    async def test_a_group_found_submitting_adopts_the_provider_batch_it_already_made(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        # The state a crash leaves between "saved submitting" and "saved submitted": the
        # provider has the batch, Frugal does not know its id.
        files = LocalFiles(str(tmp_path / "files"))
        lines = [chat_line(f"i{i}", f"idempotent {i}") for i in range(2)]
        upload = await files.add(
            jsonl(lines), tenant="default", filename="in.jsonl", purpose="batch"
        )
        key = "batch_crashed-0"
        async with aiohttp.ClientSession() as http:
            api = OpenAIBatchAPI(http, base_url=f"{batch_sim.base_url}/v1", api_key="k")
            parsed, _ = parse_input(jsonl(lines), "/v1/chat/completions")
            bodies = [
                (ln.custom_id, provider_body(ln, upstream_model=MODEL, wire="openai"))
                for ln in parsed
            ]
            await api.submit(provider_jsonl(bodies, URLS["openai"]), idempotency_key=key)
        now = int(time.time())
        job = BatchJob(
            batch=BatchObject(
                id="batch_crashed",
                endpoint="/v1/chat/completions",
                input_file_id=upload.id,
                completion_window="24h",
                status="in_progress",
                created_at=now,
                expires_at=now + 86_400,
                request_counts=RequestCounts(total=2),
            ),
            tenant="default",
            groups=[ProviderGroup("openai", MODEL, MODEL, ["i0", "i1"], key, state="submitting")],
            planned=True,
        )
        client = redis.Redis.from_url(redis_server.url)
        try:
            await RedisBatchStore(client, namespace=prefix).put_job(job, active=True)
        finally:
            await client.aclose()
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix)
        async with run_gateway(settings) as gw:
            done = await sdk(gw.base_url, lambda c: wait_done(c, "batch_crashed"))
            out = await sdk(gw.base_url, lambda c: read_lines(c, done.output_file_id))
        assert done.status == "completed" and set(out) == {"i0", "i1"}
        assert batch_sim.stats().requests["batches"] == 1

    async def test_with_wait_for_budget_a_refused_group_waits_and_can_be_cancelled(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        env = {
            "FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS": "1",
            "FRUGAL_BATCH_WAIT_FOR_BUDGET": "true",
        }
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
        async with run_gateway(settings) as gw:

            def run(client: OpenAI) -> tuple[str, Any, dict[str, Any]]:
                created = submit(client, [chat_line("patient", "waits for money")])
                time.sleep(0.5)  # several runner rounds
                waiting = client.batches.retrieve(created.id).status
                client.batches.cancel(created.id)
                done = wait_done(client, created.id)
                return waiting, done, read_lines(client, done.error_file_id)

            waiting, done, errors = await sdk(gw.base_url, run)
        assert waiting == "in_progress"
        assert done.status == "cancelled"
        assert errors["patient"]["error"]["code"] == "batch_cancelled"
        assert "batches" not in batch_sim.stats().requests


class TestRedisDown:
    async def test_the_gateway_starts_and_refuses_batches_with_503_while_redis_is_down(
        self, batch_sim: RunningSimulator, tmp_path: Path
    ) -> None:
        nowhere = RedisServer("127.0.0.1", free_port(), None)  # type: ignore[arg-type]
        settings = lane_settings(batch_sim, nowhere, tmp_path / "files", "down:")
        async with run_gateway(settings) as gw:

            def run(client: OpenAI) -> Any:
                upload = client.files.create(
                    file=("x.jsonl", jsonl([chat_line("a", "b")])), purpose="batch"
                )
                with pytest.raises(openai.InternalServerError) as refused:
                    client.batches.create(
                        input_file_id=upload.id,
                        endpoint="/v1/chat/completions",
                        completion_window="24h",
                    )
                return refused.value.status_code

            assert await sdk(gw.base_url, run) == 503
