"""MiniLM forward passes in a helper process: the same vectors, and a helper that fails fast,
comes back, refuses strangers and never outlives its gateway."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.abc
import numpy as np
import pytest
import uvloop

from agent.embedders import MiniLMEmbedder, MiniLMModel, forward_client, minilm
from agent.embedders.forward_client import ForwardClient
from agent.embedders.forward_process import (
    ForwardProcess,
    ForwardUnavailable,
    shared_forward_process,
)
from agent.embedders.forward_wire import (
    LENGTH,
    Auth,
    ForwardRequest,
    Hello,
    encode_frame,
)
from agent.embedders.minilm_model import INT8_MODEL_NAME
from agent.errors import EmbeddingError

pytestmark = pytest.mark.anyio

TEXTS = [
    "Where is my order?",
    "How do I reset my password?",
    "Thanks!",
    "",
    "?",
    "convert Celsius to Fahrenheit",
    "我的卡被吞了",
    "word " * 400,  # past the 256-token window
]


@pytest.fixture(scope="module")
def int8() -> MiniLMModel:
    return MiniLMModel.load(runtime="int8")


async def test_helper_vectors_are_the_in_thread_vectors(int8: MiniLMModel) -> None:
    async with MiniLMEmbedder.load(runtime="int8", helper_process=True) as embedder:
        assert embedder.helper is not None and embedder.helper.pid is not None
        assert embedder.name == INT8_MODEL_NAME
        got = await embedder.embed(TEXTS)
        assert embedder.truncated(TEXTS[-1]) and not embedder.truncated(TEXTS[0])
        assert embedder.unknown_token_ratio(TEXTS[6]) > 0.5
    np.testing.assert_array_equal(got, int8.embed(TEXTS))
    got[0, 0] = 0.5  # the rows are the caller's to change


async def test_concurrent_callers_each_get_their_own_rows(int8: MiniLMModel) -> None:
    texts = [f"question {i}: how do I move {i} dollars to savings?" for i in range(48)]
    rows: dict[int, np.ndarray] = {}
    async with MiniLMEmbedder.load(runtime="int8", helper_process=True) as embedder:

        async def one(i: int) -> None:
            rows[i] = (await embedder.embed([texts[i]]))[0]

        async with anyio.create_task_group() as group:
            for i in range(len(texts)):
                group.start_soon(one, i)
        bulk = await embedder.embed(texts * 12)  # one frame of ~40 KB
    expected = int8.embed(texts)
    np.testing.assert_array_equal(np.stack([rows[i] for i in range(len(texts))]), expected)
    np.testing.assert_array_equal(bulk, np.tile(expected, (12, 1)))


async def test_a_cancelled_call_leaves_the_connection_usable(int8: MiniLMModel) -> None:
    async with MiniLMEmbedder.load(runtime="int8", helper_process=True) as embedder:
        with anyio.move_on_after(0.0005) as scope:
            await embedder.embed(["long " * 200] * 30)
        assert scope.cancelled_caught
        got = await embedder.embed(["Where is my order?"])
    np.testing.assert_array_equal(got, int8.embed(["Where is my order?"]))


async def test_an_embedder_that_left_refuses_calls() -> None:
    embedder = MiniLMEmbedder.load(runtime="int8", helper_process=True)
    async with embedder:
        pass
    with pytest.raises(EmbeddingError):
        await embedder.embed(["hello"])


async def test_a_killed_helper_fails_calls_at_once_then_comes_back(int8: MiniLMModel) -> None:
    helper = ForwardProcess("int8", restart_backoff_s=0.2)
    await anyio.to_thread.run_sync(helper.start)
    tokens = int8.tokens
    ids = tokens.token_ids(["Where is my order?"])
    try:
        async with ForwardClient(helper) as client:
            first = await client.forward(ids)
            old = helper.pid
            assert old is not None
            os.kill(old, signal.SIGKILL)
            with anyio.fail_after(5):  # the connection breaks: no call waits for a timeout
                while True:
                    try:
                        await client.forward(ids)
                    except ForwardUnavailable:
                        break
                    await anyio.sleep(0.01)
            again = await _once_back(client, ids)  # restarted in the background
        assert helper.starts == 2 and helper.pid not in (None, old)
        np.testing.assert_array_equal(again, first)
    finally:
        helper.close()
    with pytest.raises(ForwardUnavailable):
        helper.hello()


async def test_a_connection_without_the_token_gets_nothing() -> None:
    helper = await anyio.to_thread.run_sync(shared_forward_process, "auto", None)
    address = helper.hello().address
    for first in (Auth("not-the-token"), ForwardRequest(0, [[101, 102]])):
        stream = await anyio.connect_unix(address)
        try:
            request = encode_frame(ForwardRequest(1, [[101, 2073, 102]]))
            await stream.send(encode_frame(first) + request)
            with (
                anyio.fail_after(10),
                pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)),
            ):
                head = await stream.receive(LENGTH.size)  # the helper hung up: no reply
                raise AssertionError(f"the helper answered a stranger: {head!r}")
        finally:
            await stream.aclose()


def test_the_helper_exits_when_its_gateway_dies(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from agent.embedders.forward_process import ForwardProcess\n"
        "h = ForwardProcess('int8'); h.start()\n"
        "print(h.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, cwd=tmp_path
    )
    try:
        assert owner.stdout is not None
        helper_pid = int(owner.stdout.readline())
        assert _running(helper_pid)
        owner.kill()  # SIGKILL: no atexit, no cleanup; only the closed pipe tells the helper
        owner.wait()
        deadline = time.monotonic() + 20
        while _running(helper_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(helper_pid)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        assert owner.stdout is not None
        owner.stdout.close()


async def _once_back(client: ForwardClient, ids: list[list[int]]) -> np.ndarray:
    """The rows, once a replaced helper answers again (a start takes ~2 s)."""
    with anyio.fail_after(60):
        while True:
            try:
                return await client.forward(ids)
            except ForwardUnavailable:
                await anyio.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


class _Deaf:
    """A 'helper' that accepts connections and never reads or answers."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.token = "t"
        self.stalls: list[int] = []

    def hello(self) -> Hello:
        return Hello(name="deaf", dim=384, address=self.address, pid=4242)

    def stalled(self, pid: int) -> None:
        self.stalls.append(pid)


async def test_a_helper_that_stops_answering_is_reported_and_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(forward_client, "_REPLY_TIMEOUT_S", 0.3)
    address = f"\0frugal-test-{os.getpid()}-{time.monotonic_ns()}"
    helper = _Deaf(address)
    async with (
        await anyio.create_unix_listener(address) as listener,
        anyio.create_task_group() as tg,
    ):
        opened: list[anyio.abc.SocketStream] = []

        async def hold(stream: anyio.abc.SocketStream) -> None:
            opened.append(stream)

        tg.start_soon(listener.serve, hold)
        async with ForwardClient(helper) as client:
            for attempt in (1, 2):
                with anyio.fail_after(5), pytest.raises(ForwardUnavailable, match="answering"):
                    await client.forward([[101, 2073, 102]])
                assert helper.stalls == [4242] * attempt
                assert len(opened) == attempt  # each call after a stall connects anew
        tg.cancel_scope.cancel()


async def test_a_stopped_helper_is_replaced(int8: MiniLMModel) -> None:
    helper = ForwardProcess("int8", restart_backoff_s=0.2)
    await anyio.to_thread.run_sync(helper.start)
    ids = int8.tokens.token_ids(["Where is my order?"])
    try:
        async with ForwardClient(helper) as client:
            first = await client.forward(ids)
            old = helper.pid
            assert old is not None
            os.kill(old, signal.SIGSTOP)  # alive, but answers nothing
            helper.stalled(old)  # what a timed-out call reports
            again = await _once_back(client, ids)
        assert helper.pid not in (None, old)
        np.testing.assert_array_equal(again, first)
    finally:
        helper.close()


async def test_a_bulk_request_does_not_hold_up_a_query(int8: MiniLMModel) -> None:
    bulk = [f"document {i}: " + "words about savings accounts " * 40 for i in range(120)]
    query = ["Where is my order?"]
    finished: list[str] = []
    async with MiniLMEmbedder.load(runtime="int8", helper_process=True) as embedder:

        async def run(name: str, texts: list[str]) -> None:
            await embedder.embed(texts)
            finished.append(name)

        async with anyio.create_task_group() as group:
            group.start_soon(run, "bulk", bulk)
            await anyio.sleep(0.05)  # the bulk's first chunks are in the helper
            group.start_soon(run, "query", query)
        got = await embedder.embed(bulk[:3] + query)
    assert finished == ["query", "bulk"]
    np.testing.assert_array_equal(got, int8.embed(bulk[:3] + query))


def test_the_helper_serves_a_gateway_on_uvloop(int8: MiniLMModel) -> None:
    # `frugal serve` runs on uvloop, whose unix sockets differ from asyncio's (no abstract
    # addresses in create_unix_connection, transports outside asyncio's class tree).
    async def embed() -> np.ndarray:
        async with MiniLMEmbedder.load(runtime="int8", helper_process=True) as embedder:
            return await embedder.embed(TEXTS)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        got = runner.run(embed())
    np.testing.assert_array_equal(got, int8.embed(TEXTS))


async def test_without_a_helper_the_embedder_runs_in_this_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, int8: MiniLMModel
) -> None:
    def refuse(runtime: str, model_dir: Path | None) -> ForwardProcess:
        raise ForwardUnavailable("the forward-pass helper did not start: said None")

    monkeypatch.setattr(minilm, "shared_forward_process", refuse)
    with caplog.at_level(logging.WARNING, logger="agent.embedders.minilm"):
        async with MiniLMEmbedder.load(runtime="int8", helper_process=True) as embedder:
            assert embedder.helper is None
            got = await embedder.embed(TEXTS[:3])
    assert "embedding in this process" in caplog.text
    np.testing.assert_array_equal(got, int8.embed(TEXTS[:3]))
