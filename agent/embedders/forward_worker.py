"""The forward-pass helper process: ``python -m agent.embedders.forward_worker [--runtime R]
[--model-dir DIR]``, started by `agent.embedders.forward_process`, never by hand.

It reads a token from the first line of stdin, loads MiniLM, listens on an abstract unix socket
and writes `Hello` (with that address) to stdout. Each connection must first send `Auth` with
the token; its `ForwardRequest`s are then answered one at a time (the passes of all connections
take turns on one core). It exits when stdin ends: its gateway stopped or died.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import secrets
import sys
from pathlib import Path
from typing import get_args

import uvloop

from agent.embedders.blas_threads import limit_blas_threads
from agent.embedders.forward_wire import (
    LENGTH,
    Auth,
    ForwardReply,
    ForwardRequest,
    FrameError,
    Hello,
    Message,
    body_length,
    decode_body,
    encode_frame,
)
from agent.embedders.malloc_tuning import keep_freed_memory_mapped
from agent.embedders.minilm_model import MiniLMModel, Runtime


async def _read(reader: asyncio.StreamReader) -> Message:
    head = await reader.readexactly(LENGTH.size)
    return decode_body(await reader.readexactly(body_length(head)))


def answer(model: MiniLMModel, request: ForwardRequest) -> ForwardReply:
    """One request's vectors; a failing pass is answered with its error, not raised."""
    try:
        return ForwardReply(request.id, vectors=model.embed_ids(request.ids).tobytes())
    except Exception as exc:  # the gateway reports it as an embedding error
        return ForwardReply(request.id, error=f"{type(exc).__name__}: {exc}")


class _Server:
    def __init__(self, model: MiniLMModel, token: str) -> None:
        self._model = model
        self._token = token.encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await _read(reader)
            if not isinstance(first, Auth):
                return
            if not hmac.compare_digest(first.token.encode(), self._token):
                return
            while True:
                message = await _read(reader)
                if isinstance(message, ForwardRequest):
                    # Blocks the loop on purpose: the other connections wait their turn...
                    writer.write(encode_frame(answer(self._model, message)))
                    await writer.drain()
                    await asyncio.sleep(0)  # ...which comes now, even with this one's queued
        except (asyncio.IncompleteReadError, FrameError, ConnectionError):
            return  # the connection ended or broke; its embedder reconnects if it wants
        finally:
            writer.close()


async def serve(model: MiniLMModel, token: str) -> None:
    """Listen until stdin ends."""
    address = f"\0frugal-forward-{secrets.token_hex(8)}"
    server = await asyncio.start_unix_server(_Server(model, token).handle, path=address)
    sys.stdout.buffer.write(encode_frame(Hello(model.name, model.dim, address, os.getpid())))
    sys.stdout.buffer.flush()
    async with server:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agent.embedders.forward_worker")
    parser.add_argument("--runtime", choices=get_args(Runtime), default="auto")
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    token = sys.stdin.buffer.readline().strip().decode()
    keep_freed_memory_mapped()
    limit_blas_threads(1)
    model = MiniLMModel.load(args.model_dir, runtime=args.runtime)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # quicker wake-ups
        runner.run(serve(model, token))


if __name__ == "__main__":
    main()
