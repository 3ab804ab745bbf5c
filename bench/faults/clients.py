"""The bench's well-behaved callers: OpenAI-wire requests (JSON and streams) and ``/chat``.

Every request is tagged (``metadata.sim_tag``) so its bill can be set against what the
simulator produced for it; each returns an `Outcome`.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp

from bench.faults.outcome import Outcome, error_code, json_cost, read_stream

_tags = itertools.count()


def new_tag(kind: str) -> str:
    """A tag no other request of this run carries."""
    return f"{kind}-{next(_tags)}"


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def completion_body(
    model: str, content: str, tag: str, *, stream: bool = False, max_tokens: int | None = None
) -> dict[str, Any]:
    """An OpenAI chat body at temperature 0 (a stream asks for the usage chunk)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "metadata": {"sim_tag": tag},
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


async def complete(
    http: aiohttp.ClientSession,
    base: str,
    key: str,
    *,
    kind: str,
    tenant: str,
    model: str,
    content: str,
    stream: bool,
) -> Outcome:
    """One ``POST /v1/chat/completions``, read to the end."""
    tag = new_tag(kind)
    outcome = Outcome(kind, tenant, tag)
    body = completion_body(model, content, tag, stream=stream)
    try:
        async with http.post(
            f"{base}/v1/chat/completions", json=body, headers=bearer(key)
        ) as response:
            outcome.status = response.status
            text = (await response.read()).decode()
            header = response.headers.get("x-frugal-cost-usd-micros")
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.text = f"connection: {exc!r}"
        return outcome
    outcome.text = text[:300]
    if outcome.status != 200:
        outcome.code = error_code(text)
        outcome.cost = int(header) if header is not None else 0
    elif stream:
        read_stream(outcome, text)
    else:
        outcome.cost = json_cost(json.loads(text))
    return outcome


async def chat(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    *,
    kind: str,
    tenant: str,
    body: dict[str, Any],
) -> Outcome:
    """One ``POST /chat``; ``text`` keeps the whole answer (for the personal-data check)."""
    outcome = Outcome(kind, tenant)
    try:
        async with http.post(f"{base}/chat", json=body, headers=headers) as response:
            outcome.status = response.status
            text = (await response.read()).decode()
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.text = f"connection: {exc!r}"
        return outcome
    outcome.text = text
    if outcome.status == 200:
        outcome.cost = json_cost(json.loads(text))
    else:
        outcome.code = error_code(text)
        outcome.cost = 0
    return outcome
