"""Helpers for driving the gateway with the official ``openai`` SDK in tests."""

from __future__ import annotations

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
