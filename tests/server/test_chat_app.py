"""The gateway app over real sockets: embedded default, real-provider mode, error paths."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import msgspec
import pytest

from server.config import load_settings
from server.settings import Settings
from tests.support.gateway import run_gateway
from tests.support.redis_server import free_port
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

FAST_SIMULATED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}


def embedded_settings(**extra: str) -> Settings:
    return load_settings({**FAST_SIMULATED, **extra})


async def post_json(url: str, payload: object) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(url, json=payload) as response:
        return response.status, await response.json()


class TestEmbeddedDefault:
    async def test_chat_gets_a_simulated_answer(self) -> None:
        async with run_gateway(embedded_settings()) as gw:
            status, body = await post_json(
                f"{gw.base_url}/chat", {"message": "How do I reset my password?"}
            )
        assert status == 200
        assert body["simulated"] is True
        assert "password" in str(body["answer"]).lower()
        assert body["model"] == "gpt-4o-mini"
        usage = body["usage"]
        assert isinstance(usage, dict) and usage["prompt"] > 0 and usage["completion"] > 0
        assert body["used_fallback"] is False

    async def test_healthz(self) -> None:
        async with run_gateway(embedded_settings()) as gw, aiohttp.ClientSession() as http:
            response = await http.get(f"{gw.base_url}/healthz")
            assert response.status == 200
            assert await response.json() == {"status": "ok"}


class TestRealProviderMode:
    async def test_chat_goes_through_the_openai_wire(self, sim: RunningSimulator) -> None:
        settings = load_settings({"OPENAI_BASE_URL": f"{sim.base_url}/v1", "OPENAI_API_KEY": "k"})
        async with run_gateway(settings) as gw:
            status, body = await post_json(f"{gw.base_url}/chat", {"message": "Where is my order?"})
        assert status == 200, body
        assert body["simulated"] is False
        assert sim.stats().requests.get("chat.completions", 0) >= 1

    async def test_failing_primary_falls_back_to_the_cheaper_model(
        self, sim: RunningSimulator
    ) -> None:
        # The OpenAI side rejects its key; the fallback model is served by the Anthropic side
        # of the same simulator, so the answer must come from there.
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                "OPENAI_API_KEY": "invalid",
                "ANTHROPIC_BASE_URL": sim.base_url,
                "ANTHROPIC_API_KEY": "k",
                "FRUGAL_MODELS_FALLBACK": "claude-haiku-4-5",
            }
        )
        async with run_gateway(settings) as gw:
            status, body = await post_json(
                f"{gw.base_url}/chat", {"message": "Can I get a refund?", "model": "gpt-4o"}
            )
        assert status == 200, body
        assert body["used_fallback"] is True
        assert body["fallback_reason"] == "primary_error:upstream_auth"
        assert body["model"].startswith("claude-haiku-4-5")


class TestErrors:
    @pytest.mark.parametrize(
        ("payload", "status", "code"),
        [
            (b"{not json", 400, "invalid_json"),
            (b"", 400, "invalid_json"),
            (b'{"message": "hi", "colour": "red"}', 422, "unknown_field"),
            (b'{"session_id": "s1"}', 422, "invalid_request"),
            (b'{"message": 42}', 422, "invalid_request"),
            (b'{"message": "   "}', 422, "empty_content"),
            (b'{"message": "hi", "model": "mystery-model"}', 404, "model_not_found"),
            (b'{"message": "hi", "model": "bad\\r\\nname"}', 400, "invalid_model"),
        ],
    )
    async def test_bad_input_gets_a_clear_error(
        self, payload: bytes, status: int, code: str, sim: RunningSimulator
    ) -> None:
        settings = load_settings(
            {
                "ANTHROPIC_BASE_URL": sim.base_url,
                "ANTHROPIC_API_KEY": "k",
                "FRUGAL_PROVIDERS_MODE": "auto",
                "FRUGAL_MODELS_CHEAP": "claude-haiku-4-5",
            }
        )
        async with (
            run_gateway(settings) as gw,
            aiohttp.ClientSession() as http,
            http.post(
                f"{gw.base_url}/chat", data=payload, headers={"content-type": "application/json"}
            ) as response,
        ):
            body = await response.json()
            assert response.status == status, body
            assert body["error"]["code"] == code
            assert body["error"]["message"]

    async def test_body_too_large(self) -> None:
        settings = embedded_settings(FRUGAL_SERVER_MAX_BODY_BYTES="2048")
        async with run_gateway(settings) as gw:
            status, body = await post_json(f"{gw.base_url}/chat", {"message": "x" * 5000})
        assert status == 413
        assert body == {"error": {"code": "body_too_large", "message": body["error"]["message"]}}

    async def test_unknown_path_and_method(self) -> None:
        async with run_gateway(embedded_settings()) as gw, aiohttp.ClientSession() as http:
            async with http.get(f"{gw.base_url}/nope") as response:
                assert response.status == 404
                assert (await response.json())["error"]["code"] == "not_found"
            async with http.get(f"{gw.base_url}/chat") as response:
                assert response.status == 405
                assert (await response.json())["error"]["code"] == "method_not_allowed"

    async def test_upstream_down_is_503_not_500(self) -> None:
        dead = f"http://127.0.0.1:{free_port()}/v1"
        settings = load_settings(
            {"OPENAI_BASE_URL": dead, "OPENAI_API_KEY": "k", "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1"}
        )
        async with run_gateway(settings) as gw:
            status, body = await post_json(f"{gw.base_url}/chat", {"message": "hello"})
        assert status == 503
        assert body["error"]["code"] == "upstream_error"


def test_frugal_serve_command_answers_with_the_simulated_provider() -> None:
    port = free_port()
    env = {**os.environ, **FAST_SIMULATED, "FRUGAL_SERVER_PORT": str(port)}
    frugal = Path(sys.executable).with_name("frugal")
    process = subprocess.Popen(
        [str(frugal), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        body = _poll_chat(f"http://127.0.0.1:{port}/chat", process)
        assert body["simulated"] is True and body["answer"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert b"SIMULATED" in stderr


def test_frugal_serve_refuses_bad_config() -> None:
    env = {**os.environ, "FRUGAL_SERVER_PORT": "not-a-port"}
    frugal = Path(sys.executable).with_name("frugal")
    result = subprocess.run(
        [str(frugal), "serve"], env=env, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert b"FRUGAL_SERVER_PORT" in result.stderr


def _poll_chat(url: str, process: subprocess.Popen[bytes]) -> dict[str, object]:
    import urllib.request

    deadline = time.monotonic() + 30
    request = urllib.request.Request(
        url,
        data=b'{"message": "How do I track my order?"}',
        headers={"content-type": "application/json"},
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"frugal serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return dict(msgspec.json.decode(response.read()))
        except OSError:
            time.sleep(0.2)
    raise AssertionError("frugal serve did not answer within 30 s")
