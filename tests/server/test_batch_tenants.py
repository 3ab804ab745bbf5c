"""Batches and files belong to a tenant: with two tenants' keys, the official ``openai`` and
``anthropic`` SDKs see only their own files, batches and results; anything else is a 404 in
the protocol's own error shape, exactly like an id that never existed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import anyio
import openai
import pytest
from anthropic import Anthropic
from openai import OpenAI

from tests.support.batch import (
    batch_sim,
    chat_line,
    jsonl,
    lane_settings,
    prefix,
    read_lines,
    wait_done,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

__all__ = ["batch_sim", "prefix"]  # fixtures, used by name

ACME_KEY = "acme-batch-secret-key-0001"
GLOBEX_KEY = "globex-batch-secret-key-0002"


def _openai(base_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=30)


class TestTenantScoping:
    async def test_the_openai_sdk_sees_only_its_own_tenants_files_and_batches(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        settings = lane_settings(
            batch_sim,
            redis_server,
            tmp_path / "files",
            prefix,
            FRUGAL_AUTH_API_KEYS=f"acme:{ACME_KEY},globex:{GLOBEX_KEY}",
        )
        async with run_gateway(settings) as gw:

            def run() -> dict[str, Any]:
                with _openai(gw.base_url, ACME_KEY) as acme, _openai(gw.base_url, GLOBEX_KEY) as gx:
                    upload = acme.files.create(
                        file=("lines.jsonl", jsonl([chat_line("a1", "tenant question")])),
                        purpose="batch",
                    )
                    batch = acme.batches.create(
                        input_file_id=upload.id,
                        endpoint="/v1/chat/completions",
                        completion_window="24h",
                    )
                    done = wait_done(acme, batch.id)
                    refused: dict[str, Any] = {}
                    attempts = {
                        "file": lambda: gx.files.retrieve(upload.id),
                        "input": lambda: gx.files.content(upload.id),
                        "output": lambda: gx.files.content(done.output_file_id or ""),
                        "batch": lambda: gx.batches.retrieve(batch.id),
                        "cancel": lambda: gx.batches.cancel(batch.id),
                    }
                    for name, attempt in attempts.items():
                        with pytest.raises(openai.NotFoundError) as caught:
                            attempt()
                        refused[name] = caught.value
                    # Another tenant's input file is as unknown as one that never existed.
                    with pytest.raises(openai.BadRequestError) as borrowed:
                        gx.batches.create(
                            input_file_id=upload.id,
                            endpoint="/v1/chat/completions",
                            completion_window="24h",
                        )
                    return {
                        "done": done,
                        "refused": refused,
                        "borrowed": borrowed.value,
                        "theirs": [b.id for b in gx.batches.list(limit=10)],
                        "mine": [b.id for b in acme.batches.list(limit=10)],
                        "output": read_lines(acme, done.output_file_id),
                        "file": acme.files.retrieve(upload.id),
                    }

            seen = await anyio.to_thread.run_sync(run)
        assert seen["done"].status == "completed" and set(seen["output"]) == {"a1"}
        for error in seen["refused"].values():
            assert error.status_code == 404
            assert error.body["code"] == "not_found"  # OpenAI's shape: {"error": {...}}
        assert "No such File object" in seen["refused"]["file"].message
        assert "No such Batch object" in seen["refused"]["cancel"].message
        assert "not found" in seen["borrowed"].message
        assert seen["theirs"] == [] and seen["mine"] == [seen["done"].id]
        assert seen["file"].id == seen["done"].input_file_id

    async def test_the_anthropic_sdk_sees_only_its_own_tenants_message_batches(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        settings = lane_settings(
            batch_sim,
            redis_server,
            tmp_path / "files",
            prefix,
            FRUGAL_AUTH_API_KEYS=f"acme:{ACME_KEY},globex:{GLOBEX_KEY}",
        )
        params = {
            "model": "gpt-4o-mini",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": "a message batch of acme's"}],
        }
        async with run_gateway(settings) as gw:

            def run() -> dict[str, Any]:
                acme = Anthropic(base_url=gw.base_url, api_key=ACME_KEY, max_retries=0)
                globex = Anthropic(base_url=gw.base_url, api_key=GLOBEX_KEY, max_retries=0)
                with acme, globex:
                    created = acme.messages.batches.create(
                        requests=[{"custom_id": "m1", "params": params}]  # type: ignore[list-item]
                    )
                    deadline = time.monotonic() + 20
                    batch = created
                    while batch.processing_status != "ended":
                        assert time.monotonic() < deadline, batch
                        time.sleep(0.05)
                        batch = acme.messages.batches.retrieve(created.id)
                    refused = []
                    for attempt in (
                        lambda: globex.messages.batches.retrieve(created.id),
                        lambda: globex.messages.batches.cancel(created.id),
                        lambda: list(globex.messages.batches.results(created.id)),
                    ):
                        with pytest.raises(anthropic.NotFoundError) as caught:
                            attempt()
                        refused.append(caught.value)
                    return {
                        "refused": refused,
                        "theirs": [b.id for b in globex.messages.batches.list(limit=10)],
                        "mine": [r.custom_id for r in acme.messages.batches.results(batch.id)],
                    }

            seen = await anyio.to_thread.run_sync(run)
        for error in seen["refused"]:
            assert error.status_code == 404
            assert error.body["type"] == "error"  # Anthropic's shape
            assert error.body["error"]["type"] == "not_found_error"
        assert seen["theirs"] == [] and seen["mine"] == ["m1"]
