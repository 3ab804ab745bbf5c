"""The batch lane end to end: the official ``openai`` SDK against the gateway, real Redis,
the simulator's own files + batches API over real HTTP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import openai
import pytest
import redis.asyncio as redis
from aiohttp import web
from openai import OpenAI

from agent.batch import LocalFiles, OpenAIBatchAPI, RedisBatchStore
from agent.batch.lines import parse_input, provider_jsonl
from agent.batch.wire import BatchJob, BatchObject, ProviderGroup, RequestCounts
from agent.openai_wire import usage_from_dict
from metrics.batch_pricing import batch_price
from metrics.pricing import DEFAULT_PRICES, cost_of
from server.batch_webhook import signature
from server.config import load_settings
from server.settings import Settings
from simulator import SimConfig
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer, free_port
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

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
    async with run_simulator(SimConfig(batch_delay_s=0.1)) as running:
        yield running


@pytest.fixture
def prefix() -> str:
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


class TestProvidersAndQueue:
    async def test_anthropic_lines_use_message_batches_and_auto_lines_the_arq_queue(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        settings = lane_settings(
            batch_sim,
            redis_server,
            tmp_path / "files",
            prefix,
            ANTHROPIC_BASE_URL=batch_sim.base_url,
            ANTHROPIC_API_KEY="k",
        )
        async with run_gateway(settings) as gw:
            lines = [chat_line("claude", "hello claude", model="claude-haiku-4-5")]
            failing = chat_line("claude-fail", "fails", model="claude-haiku-4-5")
            failing["body"]["user"] = "sim-fail"  # the simulator fails it (by metadata.user_id)
            lines.append(failing)
            lines.append(chat_line("routed", "hello router", model="auto"))
            lines.append(chat_line("openai", "hello openai"))
            # Anthropic cannot express n=2: that line's group is refused before it is sent.
            untranslatable = chat_line("two", "two answers", model="claude-sonnet-4-6")
            untranslatable["body"]["n"] = 2
            lines.append(untranslatable)

            def run(client: OpenAI) -> tuple[Any, dict[str, Any], dict[str, Any]]:
                done = wait_done(client, submit(client, lines).id)
                out = read_lines(client, done.output_file_id)
                return done, out, read_lines(client, done.error_file_id)

            done, out, errors = await sdk(gw.base_url, run)
            stats = await get_json(f"{gw.base_url}/stats")
        assert done.status == "completed"
        assert set(out) == {"claude", "routed", "openai"} and set(errors) == {"claude-fail", "two"}
        assert errors["two"]["error"]["code"] == "invalid_request"
        assert errors["two"]["response"] is None
        claude = out["claude"]["response"]["body"]
        assert claude["object"] == "chat.completion" and claude["model"].startswith("claude")
        assert claude["choices"][0]["message"]["content"]
        received = batch_sim.stats().requests
        assert received["messages.batches"] == 1  # both Anthropic lines, in one message batch
        assert received["batches"] == 1  # the OpenAI line
        lane = stats["batch"]
        assert (lane["deferred"], lane["provider_batched"]) == (1, 2)
        # Anthropic's batch price too: half the interactive price of the same tokens.
        usage = usage_from_dict(claude["usage"])
        price = DEFAULT_PRICES["claude-haiku-4-5"]
        openai_usage = usage_from_dict(out["openai"]["response"]["body"]["usage"])
        expected = cost_of(batch_price(price), usage) + cost_of(
            batch_price(DEFAULT_PRICES[MODEL]), openai_usage
        )
        assert stats["by_tier"]["batch"]["cost_usd_micros"] >= expected


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return await response.json()


class TestBatchMoney:
    async def test_the_budget_is_charged_the_batch_price(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        env = {"FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS": "1000000"}
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
        async with run_gateway(settings) as gw:
            lines = [chat_line(f"m{i}", f"money question {i}") for i in range(3)]

            def run(client: OpenAI) -> dict[str, Any]:
                done = wait_done(client, submit(client, lines).id)
                return read_lines(client, done.output_file_id)

            out = await sdk(gw.base_url, run)
            stats = await get_json(f"{gw.base_url}/stats")
        price = batch_price(DEFAULT_PRICES[MODEL])
        usages = [usage_from_dict(out[f"m{i}"]["response"]["body"]["usage"]) for i in range(3)]
        expected = sum(cost_of(price, usage) for usage in usages)
        assert expected > 0 and stats["batch"]["cost_usd_micros"] == expected
        hour = next(use for use in stats["budget"] if use["period"] == "hour")
        # The hold was settled to exactly what the answers cost at the batch price.
        assert (hour["spent_usd_micros"], hour["reserved_usd_micros"]) == (expected, 0)
        assert stats["by_tier"]["batch"]["cost_usd_micros"] == expected

    async def test_a_group_the_budget_cannot_hold_fails_without_reaching_the_provider(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        env = {"FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS": "1"}
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
        async with run_gateway(settings) as gw:

            def run(client: OpenAI) -> tuple[Any, dict[str, Any]]:
                done = wait_done(client, submit(client, [chat_line("poor", "too dear")]).id)
                return done, read_lines(client, done.error_file_id)

            done, errors = await sdk(gw.base_url, run)
        assert done.status == "completed" and done.request_counts.failed == 1
        assert errors["poor"]["error"]["code"] == "budget_exceeded"
        assert "batches" not in batch_sim.stats().requests


class TestWebhook:
    async def test_an_ended_batch_is_posted_signed_and_retried(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        async def hook(request: web.Request) -> web.Response:
            received.append((dict(request.headers), await request.read()))
            return web.Response(status=500 if len(received) == 1 else 204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        env = {
            "FRUGAL_BATCH_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
            "FRUGAL_BATCH_WEBHOOK_SECRET": "s3cret",
        }
        try:
            settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
            async with run_gateway(settings) as gw:
                done = await sdk(
                    gw.base_url, lambda c: wait_done(c, submit(c, [chat_line("w", "hook")]).id)
                )
                with anyio.fail_after(10):
                    while len(received) < 2:
                        await anyio.sleep(0.05)
        finally:
            await runner.cleanup()
        headers, body = received[-1]
        event = json.loads(body)
        assert event["type"] == "batch.completed" and event["data"]["id"] == done.id
        stamp = headers["x-frugal-timestamp"]
        assert headers["x-frugal-signature"] == signature("s3cret", stamp, body)


class TestIdempotentSubmission:
    async def test_a_group_found_submitting_adopts_the_provider_batch_it_already_made(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        # The state a crash leaves between "saved submitting" and "saved submitted": the
        # provider has the batch, Frugal does not know its id.
        files = LocalFiles(str(tmp_path / "files"))
        lines = [chat_line(f"i{i}", f"idempotent {i}") for i in range(2)]
        upload = await files.add(jsonl(lines), filename="in.jsonl", purpose="batch")
        key = "batch_crashed-0"
        async with aiohttp.ClientSession() as http:
            api = OpenAIBatchAPI(http, base_url=f"{batch_sim.base_url}/v1", api_key="k")
            parsed, _ = parse_input(jsonl(lines), "/v1/chat/completions")
            await api.submit(provider_jsonl(parsed, MODEL), idempotency_key=key)
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
