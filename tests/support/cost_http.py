"""Shared pieces of the cost-control HTTP tests: settings, keys, questions, a gateway wrapper
that reads each answer's bill, and `/stats` checks."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import anyio
import msgspec
from multidict import CIMultiDict
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from agent.tokens import count_message_tokens
from agent.types import Message, Usage
from metrics.pricing import PriceTable
from server.config import load_settings
from server.settings import AuthSettings, Settings
from tests.support.openai_sdk import sse_chunks, stream_frugal

T = TypeVar("T")


FAST_SIMULATED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}


ACME_KEY = "acme-secret-0123456789abcdef"


BETA_KEY = "beta-secret-fedcba9876543210"


ADMIN_KEY = "admin-secret-00112233445566778899"


# Distinct topics (so the semantic cache only hits where a test means it to).
SUPPORT_QUESTIONS = (
    "How do I reset my password?",
    "What is your refund policy?",
    "Can I change the shipping address of an order?",
    "Do you ship to Canada?",
    "How long does standard delivery take?",
    "Can I pay with PayPal?",
    "How do I cancel my subscription?",
    "Where can I download my invoice?",
    "Is there a student discount?",
    "How do I delete my account?",
    "Can I exchange shoes for a different size?",
    "What are your customer service hours?",
)


TECHNICAL_QUESTIONS = (
    "Why does the API return a stack trace when I upload a file?",
    "How do I configure the webhook endpoint for payment events?",
    "My SDK integration keeps hitting a timeout, how do I debug it?",
    "The OAuth callback fails with an error after deploy, what should I check?",
    "How do I parse the JSON error body of a failed request?",
    "What permission does the deploy key need for the REST API?",
)


PARAPHRASES = {
    "How do I reset my password?": "How can I reset my password?",
    "What is your refund policy?": "What's your refund policy?",
}


def fast_settings(**env: str) -> Settings:
    """Settings of the embedded mode with an instant simulated provider, plus ``env``."""
    return load_settings({**FAST_SIMULATED, **env})


def with_keys(settings: Settings) -> Settings:
    """``settings`` with auth on: tenants ``acme`` and ``beta``, and `ADMIN_KEY` for
    ``/stats`` and ``/metrics``."""
    keys = (f"acme:{ACME_KEY}", f"beta:{BETA_KEY}")
    server = msgspec.structs.replace(settings.server, admin_key=ADMIN_KEY)
    return msgspec.structs.replace(settings, auth=AuthSettings(api_keys=keys), server=server)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Billed:
    """The accounting one answered request reported, whatever shape its endpoint uses."""

    endpoint: str
    request_id: str
    model: str
    tier: str
    cache: str | None
    cost: int
    saved: int
    prompt: int
    cached_prompt: int
    completion: int
    headers: Mapping[str, str]


def sse_data(text: str) -> list[tuple[str, str]]:
    """(event name, data) of each SSE event in ``text``; comments (heartbeats) are skipped."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", None
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = line.removeprefix("data:").strip()
        if data is not None:
            events.append((name, data))
    return events


def chat_billed(body: Mapping[str, Any], headers: Mapping[str, str]) -> Billed:
    """`Billed` of a ``POST /chat`` answer."""
    usage = body["usage"]
    return Billed(
        endpoint="chat",
        request_id=body["request_id"],
        model=body["model"],
        tier=body["route"]["tier"],
        cache=body["cache"],
        cost=body["cost_usd_micros"],
        saved=body["saved_usd_micros"],
        prompt=usage["prompt"],
        cached_prompt=usage["cached_prompt"],
        completion=usage["completion"],
        headers=CIMultiDict(headers),
    )


class Gateway:
    """Calls the four answering shapes and returns what each reported as a `Billed`."""

    def __init__(
        self, http: aiohttp.ClientSession, base_url: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = dict(headers or {})

    async def chat(self, message: str, **fields: str) -> Billed:
        async with self.http.post(
            f"{self.base_url}/chat", json={"message": message, **fields}, headers=self.headers
        ) as response:
            body = await response.json()
            assert response.status == 200, body
            return chat_billed(body, response.headers)

    async def stream(self, message: str, **params: str) -> Billed:
        async with self.http.get(
            f"{self.base_url}/chat/stream",
            params={"message": message, **params},
            headers=self.headers,
        ) as response:
            text = await response.text()
            assert response.status == 200, text
        events = sse_data(text)
        assert events[0][0] == "meta" and events[-1][0] == "done", events[-1]
        meta, done = json.loads(events[0][1]), json.loads(events[-1][1])
        usage = done["usage"]
        return Billed(
            endpoint="chat_stream",
            request_id=done["request_id"],
            model=done["model"],
            tier=meta["route"]["tier"],
            cache=done["cache"],
            cost=done["cost_usd_micros"],
            saved=done["saved_usd_micros"],
            prompt=usage["prompt"],
            cached_prompt=usage["cached_prompt"],
            completion=usage["completion"],
            headers=CIMultiDict(response.headers),
        )

    async def completion(
        self, message: str, *, stream: bool = False, cache: str | None = None, **extra: Any
    ) -> Billed:
        """``POST /v1/chat/completions`` at ``temperature: 0`` (deterministic, so cacheable)
        unless ``extra`` says otherwise; a stream asks for the usage chunk."""
        headers = dict(self.headers)
        if cache is not None:
            headers["x-frugal-cache"] = cache
        payload: dict[str, Any] = {
            "model": "auto",
            "messages": [{"role": "user", "content": message}],
            "temperature": 0,
            **extra,
        }
        if stream:
            payload |= {"stream": True, "stream_options": {"include_usage": True}}
        async with self.http.post(
            f"{self.base_url}/v1/chat/completions", json=payload, headers=headers
        ) as response:
            text = await response.text()
            assert response.status == 200, text
        if stream:
            chunks, _, kinds = sse_chunks(text)
            # The bill rides in a `: frugal {...}` comment after the last chunk, before [DONE].
            assert kinds[-2:] == ["frugal", "done"], kinds[-3:]
            info = stream_frugal(text)
            body = chunks[-1]  # the usage-only chunk the caller asked for
            assert body["choices"] == [] and body.get("usage") is not None, body
            assert all("frugal" not in c for c in chunks)
        else:
            body = json.loads(text)
            info = body["frugal"]
        usage = body["usage"]
        hit = info["cache"] != "miss"
        # A hit replays the stored completion, its usage included; nothing was billed for it.
        return Billed(
            endpoint="chat_completions",
            request_id=info["request_id"],
            model=body["model"],
            tier=info["route"],
            cache=info["cache"] if hit else None,
            cost=info["cost_usd_micros"],
            saved=info["saved_usd_micros"],
            prompt=0 if hit else usage["prompt_tokens"],
            cached_prompt=0 if hit else usage["prompt_tokens_details"]["cached_tokens"],
            completion=0 if hit else usage["completion_tokens"],
            headers=CIMultiDict(response.headers),
        )


async def fetch_json(
    http: aiohttp.ClientSession, url: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    async with http.get(url, headers=headers) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
    return body


async def stats_of(http: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    """``/stats``, read with `ADMIN_KEY` (needed when auth is on; ignored when it is off)."""
    return await fetch_json(http, f"{base_url}/stats", bearer(ADMIN_KEY))


def assert_stats_add_up(stats: Mapping[str, Any], answers: Iterable[Billed]) -> None:
    """``stats`` totals equal the sums of what the ``answers`` reported, to the micro-dollar."""
    answers = list(answers)
    cost = sum(a.cost for a in answers)
    assert stats["calls"] == len(answers)
    assert stats["cost_usd_micros"] == cost
    assert stats["avg_cost_usd_micros"] == cost // len(answers)
    assert stats["saved_usd_micros"] == sum(a.saved for a in answers)
    assert stats["tokens"]["input"] == sum(a.prompt for a in answers)
    assert stats["tokens"]["cached_input"] == sum(a.cached_prompt for a in answers)
    assert stats["tokens"]["output"] == sum(a.completion for a in answers)
    layers = Counter(a.cache for a in answers)
    assert stats["cache"]["exact_hits"] == layers["exact"]
    assert stats["cache"]["semantic_hits"] == layers["semantic"]
    assert stats["cache"]["misses"] == layers[None]
    assert stats["routes"] == dict(Counter(a.tier for a in answers))
    by_model: Counter[str] = Counter()
    for a in answers:
        by_model[a.model] += a.cost
    assert {m: row["cost_usd_micros"] for m, row in stats["by_model"].items()} == dict(by_model)
    assert stats["window_spend_usd_micros"] == cost


async def sdk(base_url: str, api_key: str, call: Callable[[OpenAI], T], retries: int = 0) -> T:
    """Run ``call`` with the official sync SDK in a worker thread (the gateway runs here)."""

    def run() -> T:
        with OpenAI(
            base_url=f"{base_url}/v1", api_key=api_key, max_retries=retries, timeout=30
        ) as client:
            return call(client)

    return await anyio.to_thread.run_sync(run)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def mixed_traffic(gw: Gateway) -> list[Billed]:
    """~60 answers: first asks over every endpoint, repeats (exact hits), paraphrases
    (semantic hits), no-cache re-asks, technical questions (strong tier)."""
    answers: list[Billed] = []
    first = [*SUPPORT_QUESTIONS, *TECHNICAL_QUESTIONS]
    # Two families of endpoints share cached answers: the support agent (/chat and
    # /chat/stream, which add its prompt and knowledge base) and the transparent wire
    # (/v1/chat/completions, whole or streamed). They never share with each other: the
    # provider sees different requests.
    families: tuple[tuple[Callable[[str], Any], ...], ...] = (
        (gw.chat, gw.stream),
        (gw.completion, lambda q: gw.completion(q, stream=True)),
    )
    limiter = anyio.CapacityLimiter(6)

    async def ask(shape: Callable[[str], Any], question: str) -> None:
        async with limiter:
            answers.append(await shape(question))

    # Round one: every question once; rounds two and three: the same questions over the other
    # endpoint of the same family, then the first again (exact hits); then paraphrases and
    # uncached asks.
    for round_ in range(3):
        async with anyio.create_task_group() as group:
            for i, question in enumerate(first):
                family = families[i % len(families)]
                group.start_soon(ask, family[(i + round_) % len(family)], question)
    for original, paraphrase in PARAPHRASES.items():
        # A paraphrase is served (semantic hit) within the family that cached the original.
        family = families[first.index(original) % len(families)]
        answers.append(await family[0](paraphrase))
        answers.append(await gw.stream(original, cache="no-cache"))
    async with anyio.create_task_group() as group:
        for question in TECHNICAL_QUESTIONS[:3]:
            group.start_soon(ask, lambda q: gw.completion(q, cache="no-cache"), question)
    return answers


def billed_from_sdk(completion: Any) -> Billed:
    """`Billed` of a ``ChatCompletion`` the SDK returned (``frugal`` is an extra attribute)."""
    info = (completion.model_extra or {})["frugal"]
    usage = completion.usage
    hit = info["cache"] != "miss"
    details = usage.prompt_tokens_details
    return Billed(
        endpoint="chat_completions",
        request_id=info["request_id"],
        model=completion.model,
        tier=info["route"],
        cache=info["cache"] if hit else None,
        cost=info["cost_usd_micros"],
        saved=info["saved_usd_micros"],
        prompt=0 if hit else usage.prompt_tokens,
        cached_prompt=0 if hit or details is None else details.cached_tokens,
        completion=0 if hit else usage.completion_tokens,
        headers={},
    )


async def refused(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def clear_of_hour_boundary(margin_s: float = 60.0) -> None:
    """Wait until the current clock hour has ``margin_s`` left, so an hourly budget window
    cannot reset in the middle of a test (almost always returns at once)."""
    left = 3600 - time.time() % 3600
    if left < margin_s:
        await anyio.sleep(left + 0.5)


# Measured assembled prompts of these questions hold ~300-400 tokens besides the question.
PROMPT_ALLOWANCE = 800


def worst_case_usd_micros(question: str, *, max_completion_tokens: int = 1024) -> int:
    """An upper bound of the pipeline's reservation for ``question``: the strong model's
    price for the assembled prompt (the caller's tokens plus at most `PROMPT_ALLOWANCE` of
    system prompt, tool descriptions and retrieved documents) and the completion cap."""
    prompt = count_message_tokens((Message("user", question),), "gpt-4o-mini") + PROMPT_ALLOWANCE
    cost = PriceTable().cost_usd_micros(
        "gpt-4o", Usage(prompt=prompt, completion=max_completion_tokens)
    )
    assert cost is not None
    return cost


class Exposition:
    """Samples of a parsed Prometheus text exposition, by name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def samples(self, name: str, **labels: str) -> list[float]:
        family = self.families[name.removesuffix("_total").removesuffix("_count")]
        return [
            s.value
            for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def total(self, name: str, **labels: str) -> float:
        return sum(self.samples(name, **labels))

    def by_label(self, name: str, label: str) -> dict[str, float]:
        family = self.families[name.removesuffix("_total")]
        out: Counter[str] = Counter()
        for s in family.samples:
            if s.name == name:
                out[s.labels[label]] += int(s.value)
        return dict(out)


async def abandon(response: aiohttp.ClientResponse, *, after_tokens: int) -> None:
    """Read until ``after_tokens`` pieces of text arrived, then drop the connection."""
    seen = 0
    async for line in response.content:
        # A /chat/stream token event, or an OpenAI chunk whose delta carries text.
        if line.startswith(b"event: token") or b'"delta":{"content"' in line:
            seen += 1
        if seen >= after_tokens:
            break
    response.close()
