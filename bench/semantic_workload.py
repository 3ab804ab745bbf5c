"""The request sets of the semantic-cache bench and a load loop that checks who answered.

`prepare` fills a semantic-on gateway with one side of the calibration paraphrase pairs, then
probes candidates through ``POST /chat`` with ``cache: no-store`` (whose response names the
cache layer and the semantic cache's reason and score) to keep the paraphrases the semantic
layer answers and the questions it looks up but misses. ``/chat`` and ``/v1`` requests for the
same concrete model share a semantic partition (tenant, model), so the probe predicts the
``/v1/chat/completions`` answer; `layered_loop` still checks every response's
``x-frugal-cache`` header and counts only the layer it wants.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
import anyio
import msgspec

from bench.gateway_process import (
    CACHE_HEADER,
    CALIBRATION,
    JSON_HEADERS,
    MODEL,
    Server,
    completion_body,
    http_session,
    questions,
)


class _Pair(msgspec.Struct):
    a: str
    b: str
    same: bool


class _Diagnostics(msgspec.Struct):
    semantic: str = "disabled"
    semantic_score: float | None = None


class _ChatAnswer(msgspec.Struct):
    cache: str | None
    latency_ms: dict[str, float]
    cache_diagnostics: _Diagnostics = msgspec.field(default_factory=_Diagnostics)


@dataclass
class Probe:
    """What ``POST /chat`` said about one question."""

    question: str
    layer: str  # "exact", "semantic" or "miss"
    semantic: str  # the semantic cache's reason: hit, below_threshold, guard:..., disabled
    score: float | None
    cache_stage_ms: float  # the server's "cache" stage: exact plus semantic lookup


@dataclass
class Workload:
    """The bodies to replay and what the probes found."""

    hit_bodies: list[bytes]
    miss_bodies: list[bytes]
    paraphrases: int  # paraphrases probed; len(hit_bodies) of them came back semantic
    candidates: list[Probe]  # every question probed for the miss set, kept or not
    miss_probes: list[Probe]  # the kept ones: missed, and embedded and searched (scored)
    off_probes: list[Probe]  # the same miss questions through the semantic-off gateway


def _same_pairs() -> list[_Pair]:
    decoder = msgspec.json.Decoder(_Pair)
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    return [p for p in (decoder.decode(line) for line in lines if line.strip()) if p.same]


async def _probe(session: aiohttp.ClientSession, gw: Server, question: str) -> Probe:
    body = msgspec.json.encode({"message": question, "model": MODEL, "cache": "no-store"})
    async with session.post(f"{gw.url}/chat", data=body, headers=JSON_HEADERS) as response:
        raw = await response.read()
        response.raise_for_status()
    answer = msgspec.json.decode(raw, type=_ChatAnswer)
    d = answer.cache_diagnostics
    stage = answer.latency_ms.get("cache", 0.0)
    return Probe(question, answer.cache or "miss", d.semantic, d.semantic_score, stage)


async def _fill(session: aiohttp.ClientSession, gw: Server, texts: Sequence[str]) -> None:
    limiter = anyio.CapacityLimiter(8)

    async def ask(text: str) -> None:
        async with limiter:
            url = f"{gw.url}/v1/chat/completions"
            async with session.post(url, data=completion_body(text), headers=JSON_HEADERS) as r:
                await r.read()
                r.raise_for_status()

    async with anyio.create_task_group() as group:
        for text in texts:
            group.start_soon(ask, text)


async def prepare(sem: Server, off: Server, *, miss_count: int) -> Workload:
    """Fill ``sem`` with the pairs' ``a`` sides (stored), then probe one at a time (so the
    server's cache-stage time is a concurrency-1 figure) the ``b`` sides and up to
    ``miss_count`` other questions on ``sem``, and those misses again on ``off``."""
    pairs = _same_pairs()
    seen = {q for p in pairs for q in (p.a, p.b)}
    others = [q for q in questions(miss_count + len(seen)) if q not in seen][:miss_count]
    async with http_session(8) as session:
        await _fill(session, sem, [p.a for p in pairs])
        hits = [await _probe(session, sem, p.b) for p in pairs]
        candidates = [await _probe(session, sem, q) for q in others]
        # An unrepresentable question (mostly non-English) is never embedded: leave it out.
        misses = [m for m in candidates if m.layer == "miss" and m.score is not None]
        off_probes = [await _probe(session, off, m.question) for m in misses]
    return Workload(
        hit_bodies=[completion_body(h.question) for h in hits if h.layer == "semantic"],
        miss_bodies=[completion_body(m.question) for m in misses],
        paraphrases=len(pairs),
        candidates=candidates,
        miss_probes=misses,
        off_probes=off_probes,
    )


def reasons(probes: Sequence[Probe]) -> str:
    """The semantic reasons of ``probes`` by kind, most common first (``guard 4, ...``)."""
    counts = Counter(p.semantic.split(":", 1)[0] for p in probes)
    return ", ".join(f"{reason} {n}" for reason, n in counts.most_common())


@dataclass
class LayeredSample:
    """One closed-loop round: latencies of the responses from the wanted layer only."""

    latencies_ms: list[float] = field(default_factory=list)
    other: int = 0  # 200s answered by another layer (not counted in latencies)
    layers: Counter[str] = field(default_factory=Counter)  # every 200 by x-frugal-cache
    errors: int = 0
    elapsed_s: float = 0.0


async def layered_loop(
    session: aiohttp.ClientSession,
    url: str,
    bodies: Sequence[bytes],
    *,
    headers: Mapping[str, str],
    want: str,
    concurrency: int,
    duration_s: float,
) -> LayeredSample:
    """``concurrency`` workers post ``bodies`` round-robin for ``duration_s``; a response
    counts when its status is 200 and its ``x-frugal-cache`` header is ``want``."""
    sample = LayeredSample()
    next_index = 0
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        nonlocal next_index
        while time.perf_counter() < deadline:
            body = bodies[next_index % len(bodies)]
            next_index += 1
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status, layer = response.status, response.headers.get(CACHE_HEADER)
            except aiohttp.ClientError:
                status, layer = 0, None
            elapsed_ms = (time.perf_counter() - sent) * 1000
            if status != 200:
                sample.errors += 1
                continue
            sample.layers[layer or "?"] += 1
            if layer == want:
                sample.latencies_ms.append(elapsed_ms)
            else:
                sample.other += 1

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    sample.elapsed_s = time.perf_counter() - started
    return sample


async def semantic_counters(session: aiohttp.ClientSession, gw: Server) -> dict[str, float]:
    """The gateway's ``frugal_cache_requests`` counters for the semantic layer, by result."""
    async with session.get(f"{gw.url}/metrics") as response:
        text = (await response.read()).decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("frugal_cache_requests_total{") and 'layer="semantic"' in line:
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = float(line.rsplit(" ", 1)[1])
    return found
