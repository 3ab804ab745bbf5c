"""Helpers for driving the gateway with the official ``openai`` SDK in tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from openai import OpenAI

T = TypeVar("T")


async def with_sync_client(base_url: str, call: Callable[[OpenAI], T]) -> T:
    """Run ``call`` with a sync SDK client in a worker thread (the gateway runs in this loop)."""

    def run() -> T:
        with OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0, timeout=30) as c:
            return call(c)

    return await anyio.to_thread.run_sync(run)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def frugal(model: Any) -> dict[str, Any]:
    """The gateway's ``frugal`` extension, which the SDK keeps as an extra attribute."""
    extra = model.model_extra or {}
    info = extra["frugal"]
    assert isinstance(info, dict)
    return info


FRUGAL_COMMENT = ": frugal "


def sse_chunks(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Split a ``/v1/chat/completions`` stream into (decoded ``data:`` chunks, the ``frugal``
    objects of its ``: frugal {...}`` comment lines, every line kind in order).

    The kinds are ``data``, ``frugal`` (the comment) and ``done`` (``data: [DONE]``), so a test
    can check where the comment sits."""
    chunks: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    kinds: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        if line.startswith(FRUGAL_COMMENT):
            infos.append(json.loads(line.removeprefix(FRUGAL_COMMENT)))
            kinds.append("frugal")
        elif line == "data: [DONE]":
            kinds.append("done")
        elif line.startswith("data: "):
            chunks.append(json.loads(line.removeprefix("data: ")))
            kinds.append("data")
        else:
            kinds.append(line)  # anything else is unexpected: let the test see it
    return chunks, infos, kinds


def stream_frugal(text: str) -> dict[str, Any]:
    """The ``frugal`` object of the one ``: frugal {...}`` comment of a stream."""
    _, infos, _ = sse_chunks(text)
    [info] = infos
    return info
