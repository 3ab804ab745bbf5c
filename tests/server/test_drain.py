"""SIGTERM drains `frugal serve` (a real process in front of the real simulator): readiness
goes 503 at once, new requests are still served during the notice period, a stream in flight
finishes, the in-flight gauge counts it, and the process exits on its own with status 0."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import anyio
import msgspec
import pytest

from bench.gateway_process import simulator
from bench.upstream_process import free_port, frugal_command, listening_process

pytestmark = pytest.mark.anyio

AUTH = {"authorization": "Bearer drain-test"}


@contextmanager
def _served(upstream: str, notice_s: float) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FRUGAL_", "REDIS_"))},
        "OPENAI_BASE_URL": f"{upstream}/v1",
        "OPENAI_API_KEY": "drain-test",
        "FRUGAL_SERVER_LOG_LEVEL": "warning",
        "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
        "FRUGAL_SERVER_DRAIN_NOTICE_S": str(notice_s),
        "FRUGAL_SERVER_DRAIN_GRACE_S": "20",
    }
    command = frugal_command("serve", "--host", "127.0.0.1", "--port", str(port))
    with listening_process(command, port, env=env, start_s=90) as process:
        yield f"http://127.0.0.1:{port}", process


def _body(question: str, *, stream: bool) -> dict[str, object]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": question}],
        "stream": stream,
    }


async def _exit_code(process: subprocess.Popen[bytes]) -> int:
    with anyio.fail_after(30):
        while process.poll() is None:
            await anyio.sleep(0.05)
    return process.returncode


async def test_sigterm_drains_readiness_first_then_in_flight_streams() -> None:
    # 40 tokens at 10 tokens/s: the stream is still running when SIGTERM arrives.
    with (
        simulator(["--output-tokens", "40", "--tokens-per-s", "10"]) as sim,
        _served(sim.url, notice_s=1.5) as (base, process),
    ):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as ready:
                assert ready.status == 200
            url = f"{base}/v1/chat/completions"
            body = _body("tell me a long story about drains", stream=True)
            async with http.post(url, json=body, headers=AUTH) as stream:
                assert stream.status == 200
                first = await stream.content.readline()
                assert first.startswith(b"data: ")
                async with http.get(f"{base}/metrics") as scrape:
                    assert "frugal_http_requests_in_flight 1\n" in await scrape.text()
                os.kill(process.pid, signal.SIGTERM)
                await anyio.sleep(0.3)  # the signal lands; on_tick runs every 0.1 s
                async with http.get(f"{base}/readyz") as ready:
                    assert ready.status == 503
                    report = msgspec.json.decode(await ready.read())
                    assert report["checks"]["drain"]["ok"] is False
                # Within the notice period the listener still takes new requests, and asks
                # the client to reconnect (elsewhere) afterwards.
                plain = _body("a quick one during the notice", stream=False)
                async with http.post(url, json=plain, headers=AUTH) as late:
                    assert late.status == 200
                    assert late.headers["connection"] == "close"
                    await late.read()
                rest = await stream.content.read()
            assert rest.rstrip().endswith(b"data: [DONE]")
        assert await _exit_code(process) == 0


async def test_sigterm_without_a_readiness_prober_skips_the_notice() -> None:
    with (
        simulator(["--output-tokens", "20", "--tokens-per-s", "10"]) as sim,
        _served(sim.url, notice_s=600) as (base, process),
    ):
        async with aiohttp.ClientSession() as http:
            url = f"{base}/v1/chat/completions"
            body = _body("a stream nobody balances", stream=True)
            async with http.post(url, json=body, headers=AUTH) as stream:
                await stream.content.readline()
                os.kill(process.pid, signal.SIGTERM)
                rest = await stream.content.read()
            assert rest.rstrip().endswith(b"data: [DONE]")
        # No 600 s notice: nothing routes by readiness here, so the process exits once the
        # stream is done (the 30 s bound of _exit_code would fail otherwise).
        assert await _exit_code(process) == 0
