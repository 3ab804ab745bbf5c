"""The batch lane's routes to providers: OpenAI and Anthropic batch APIs, the arq queue, and
Anthropic's message batches driven by the ``anthropic`` SDK."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import anyio
import pytest
from anthropic import Anthropic
from openai import OpenAI

from agent.openai_wire import usage_from_dict
from metrics.batch_pricing import batch_price
from metrics.pricing import DEFAULT_PRICES, cost_of
from tests.support.batch import (
    MODEL,
    batch_sim,
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
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

# A 1x1 transparent PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

__all__ = ["batch_sim", "prefix"]  # fixtures, used by name


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


class TestAnthropicSdk:
    async def test_message_batches_run_through_the_lane(
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

        def params(model: str, text: str) -> dict[str, Any]:
            return {
                "model": model,
                "max_tokens": 64,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
            }

        async with run_gateway(settings) as gw:

            def run() -> tuple[Any, dict[str, Any], Any]:
                with Anthropic(base_url=gw.base_url, api_key="k", max_retries=0) as client:
                    created = client.messages.batches.create(
                        requests=[
                            {"custom_id": "c1", "params": params("claude-haiku-4-5", "hi")},
                            {"custom_id": "g1", "params": params(MODEL, "hello")},
                        ]
                    )
                    assert created.processing_status == "in_progress"
                    deadline = time.monotonic() + 20
                    batch = created
                    while batch.processing_status != "ended":
                        assert time.monotonic() < deadline, batch
                        time.sleep(0.05)
                        batch = client.messages.batches.retrieve(created.id)
                    found = {
                        r.custom_id: r.result for r in client.messages.batches.results(batch.id)
                    }
                    bad = {k: v for k, v in params(MODEL, "x").items() if k != "max_tokens"}
                    with pytest.raises(anthropic.BadRequestError):  # checked like /v1/messages
                        client.messages.batches.create(
                            requests=[{"custom_id": "x", "params": bad}]  # type: ignore[list-item]
                        )
                    return batch, found, client.messages.batches.list(limit=5)

            batch, found, listed = await anyio.to_thread.run_sync(run)
        assert batch.request_counts.succeeded == 2 and batch.request_counts.errored == 0
        assert {kind.type for kind in found.values()} == {"succeeded"}
        assert found["c1"].message.content[0].text and found["c1"].message.usage.output_tokens > 0
        assert found["g1"].message.model == MODEL
        assert listed.data[0].id == batch.id
        received = batch_sim.stats().requests
        assert received["messages.batches"] == 1 and received["batches"] == 1

    async def test_tool_and_image_lines_travel_whole_natively_or_translated(
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
        tool = {
            "name": "order_status",
            "description": "Status of an order by id",
            "input_schema": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        }
        image = {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
        }

        def tool_params(model: str) -> dict[str, Any]:
            return {
                "model": model,
                "max_tokens": 64,
                "system": [
                    {
                        "type": "text",
                        "text": "Use the tools.",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
                "tools": [tool],
                "tool_choice": {"type": "any"},
                "messages": [{"role": "user", "content": "Where is order 1234?"}],
            }

        def image_params(model: str) -> dict[str, Any]:
            content = [{"type": "text", "text": "What is in this picture?"}, image]
            return {
                "model": model,
                "max_tokens": 64,
                "messages": [{"role": "user", "content": content}],
            }

        requests = [
            {"custom_id": "tool-native", "params": tool_params("claude-haiku-4-5")},
            {"custom_id": "image-native", "params": image_params("claude-haiku-4-5")},
            {"custom_id": "tool-openai", "params": tool_params(MODEL)},
            {"custom_id": "image-openai", "params": image_params(MODEL)},
            {"custom_id": "tool-deferred", "params": tool_params("auto")},
        ]
        async with run_gateway(settings) as gw:

            def run() -> dict[str, Any]:
                with Anthropic(base_url=gw.base_url, api_key="k", max_retries=0) as client:
                    created = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
                    deadline = time.monotonic() + 20
                    batch = created
                    while batch.processing_status != "ended":
                        assert time.monotonic() < deadline, batch
                        time.sleep(0.05)
                        batch = client.messages.batches.retrieve(created.id)
                    return {
                        r.custom_id: r.result for r in client.messages.batches.results(batch.id)
                    }

            found = await anyio.to_thread.run_sync(run)
        assert {r.type for r in found.values()} == {"succeeded"}, found
        for custom_id in ("tool-native", "tool-openai", "tool-deferred"):
            message = found[custom_id].message
            assert message.stop_reason == "tool_use", custom_id
            calls = [block for block in message.content if block.type == "tool_use"]
            assert calls and calls[0].name == "order_status" and "order_id" in calls[0].input
        for custom_id in ("image-native", "image-openai"):
            message = found[custom_id].message
            assert message.content[0].type == "text" and message.content[0].text
            assert message.usage.input_tokens > 0
        assert found["tool-native"].message.id.startswith("msg_")
        assert found["tool-native"].message.model.startswith("claude")
        received = batch_sim.stats().requests
        # The Anthropic lines in one message batch as written, the OpenAI ones in one batch.
        assert received["messages.batches"] == 1 and received["batches"] == 1
