"""The simulator's OpenAI files and batches and Anthropic's message batches, driven by the
official ``openai`` and ``anthropic`` SDKs."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import openai
import pytest
from anthropic import Anthropic
from openai import OpenAI

from simulator import SimConfig
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio


def chat_line(custom_id: str, text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode()


@pytest.fixture
async def batch_sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimConfig(batch_delay_s=0.1)) as running:
        yield running


async def in_thread(sim: RunningSimulator, call: Any) -> Any:
    def run() -> Any:
        with OpenAI(base_url=f"{sim.base_url}/v1", api_key="k", max_retries=0) as client:
            return call(client)

    return await anyio.to_thread.run_sync(run)


def wait_done(client: OpenAI, batch_id: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            return batch
        time.sleep(0.05)
    raise AssertionError("the batch did not finish")


class TestOpenAIBatches:
    async def test_batch_answers_lines_and_reports_failures(
        self, batch_sim: RunningSimulator
    ) -> None:
        lines = [chat_line(f"q{i}", f"question {i}") for i in range(3)]
        lines.append(chat_line("q-sim-fail", "this line fails"))

        def run(client: OpenAI) -> tuple[Any, str, str]:
            upload = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
            assert client.files.retrieve(upload.id).bytes == len(jsonl(lines))
            created = client.batches.create(
                input_file_id=upload.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"frugal": "x"},
            )
            assert created.status == "in_progress"
            done = wait_done(client, created.id)
            assert done.output_file_id and done.error_file_id
            output = client.files.content(done.output_file_id).text
            errors = client.files.content(done.error_file_id).text
            return done, output, errors

        done, output, errors = await in_thread(batch_sim, run)
        assert done.status == "completed"
        assert (done.request_counts.total, done.request_counts.completed) == (4, 3)
        assert done.request_counts.failed == 1
        answered = [json.loads(line) for line in output.splitlines()]
        assert [a["custom_id"] for a in answered] == ["q0", "q1", "q2"]
        assert all(a["response"]["status_code"] == 200 for a in answered)
        assert answered[0]["response"]["body"]["object"] == "chat.completion"
        failed = [json.loads(line) for line in errors.splitlines()]
        assert [(f["custom_id"], f["response"]["status_code"]) for f in failed] == [
            ("q-sim-fail", 500)
        ]
        # Every line was answered by the simulator's own chat endpoint.
        assert batch_sim.stats().requests["chat.completions"] == 3

    async def test_cancel_before_the_delay_ends_the_batch_without_answers(self) -> None:
        async with run_simulator(SimConfig(batch_delay_s=30)) as sim:

            def run(client: OpenAI) -> Any:
                upload = client.files.create(
                    file=("in.jsonl", jsonl([chat_line("a", "x")])), purpose="batch"
                )
                created = client.batches.create(
                    input_file_id=upload.id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                )
                assert client.batches.cancel(created.id).status == "cancelling"
                return wait_done(client, created.id)

            done = await in_thread(sim, run)
            assert done.status == "cancelled"
            assert done.output_file_id is None
            assert "chat.completions" not in sim.stats().requests

    async def test_invalid_input_fails_the_batch_and_unknown_ids_are_404(
        self, batch_sim: RunningSimulator
    ) -> None:
        def run(client: OpenAI) -> Any:
            bad = client.files.create(file=("in.jsonl", b"{not json}\n"), purpose="batch")
            failed = client.batches.create(
                input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            with pytest.raises(openai.NotFoundError):
                client.batches.retrieve("batch_nope")
            with pytest.raises(openai.BadRequestError):
                client.batches.create(
                    input_file_id="file-nope",
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                )
            return failed

        failed = await in_thread(batch_sim, run)
        assert failed.status == "failed"
        assert failed.errors is not None and failed.errors.data

    async def test_list_is_newest_first(self, batch_sim: RunningSimulator) -> None:
        def run(client: OpenAI) -> tuple[list[str], list[str]]:
            upload = client.files.create(
                file=("in.jsonl", jsonl([chat_line("a", "x")])), purpose="batch"
            )
            ids = [
                client.batches.create(
                    input_file_id=upload.id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                ).id
                for _ in range(3)
            ]
            return ids, [b.id for b in client.batches.list(limit=10).data]

        created, listed = await in_thread(batch_sim, run)
        assert listed == list(reversed(created))


class TestAnthropicMessageBatches:
    async def test_requests_are_answered_and_results_stream_as_jsonl(
        self, batch_sim: RunningSimulator
    ) -> None:
        def params(text: str) -> dict[str, Any]:
            return {
                "model": "claude-haiku-4-5",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": text}],
            }

        def run() -> tuple[Any, dict[str, Any]]:
            with Anthropic(base_url=batch_sim.base_url, api_key="k", max_retries=0) as client:
                created = client.messages.batches.create(
                    requests=[
                        {"custom_id": "m1", "params": params("hello")},
                        {"custom_id": "m-sim-fail", "params": params("fails")},
                    ]
                )
                assert created.processing_status == "in_progress"
                deadline = time.monotonic() + 10
                batch = created
                while batch.processing_status != "ended":
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                    batch = client.messages.batches.retrieve(created.id)
                found = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
                assert client.messages.batches.list().data[0].id == batch.id
                return batch, found

        batch, found = await anyio.to_thread.run_sync(run)
        assert (batch.request_counts.succeeded, batch.request_counts.errored) == (1, 1)
        assert found["m1"].type == "succeeded"
        assert found["m1"].message.content[0].type == "text"
        assert found["m-sim-fail"].type == "errored"
        assert batch_sim.stats().requests["messages"] == 1

    async def test_cancel_ends_the_batch_with_its_requests_canceled(self) -> None:
        async with run_simulator(SimConfig(batch_delay_s=30)) as sim:

            def run() -> tuple[Any, list[Any]]:
                with Anthropic(base_url=sim.base_url, api_key="k", max_retries=0) as client:
                    params = {
                        "model": "claude-haiku-4-5",
                        "max_tokens": 8,
                        "messages": [{"role": "user", "content": "x"}],
                    }
                    created = client.messages.batches.create(
                        requests=[{"custom_id": "a", "params": params}]
                    )
                    assert client.messages.batches.cancel(created.id).processing_status == (
                        "canceling"
                    )
                    batch = client.messages.batches.retrieve(created.id)
                    return batch, list(client.messages.batches.results(created.id))

            batch, found = await anyio.to_thread.run_sync(run)
            assert batch.processing_status == "ended" and batch.request_counts.canceled == 1
            assert [r.result.type for r in found] == ["canceled"]
