"""``frugal load --batch-share F``: the non-urgent share of a workload goes through the batch
lane (one ``/v1/files`` upload and one ``/v1/batches`` batch) after the interactive run, and
the report says what that share cost against the same lines sent interactively."""

from __future__ import annotations

import time
from collections.abc import Sequence

import aiohttp
import anyio
import msgspec

from bench.load.workload import WorkloadItem

_encoder = msgspec.json.Encoder()
_TERMINAL = frozenset({"completed", "failed", "cancelled", "expired"})


class BatchShare(msgspec.Struct, frozen=True):
    """The batch part of a load run: its lines, how they ended, where their answers came
    from, and money in micro-USD (``interactive`` = the same answers at interactive prices)."""

    lines: int
    status: str
    wall_s: float
    completed: int
    failed: int
    cache_hits: int
    provider_batched: int
    deferred: int
    cost_usd_micros: int
    interactive_usd_micros: int
    saved_usd_micros: int


class _LaneStats(msgspec.Struct):
    requests: int = 0
    cache_hits: int = 0
    provider_batched: int = 0
    deferred: int = 0
    cost_usd_micros: int = 0
    interactive_usd_micros: int = 0


class _Stats(msgspec.Struct):
    batch: _LaneStats | None = None


def split(
    items: Sequence[WorkloadItem], share: float
) -> tuple[list[WorkloadItem], list[WorkloadItem]]:
    """(interactive, batch): every ``1/share``-th single-turn item goes to the batch;
    conversations stay interactive (their turns depend on each other)."""
    interactive: list[WorkloadItem] = []
    batch: list[WorkloadItem] = []
    for index, item in enumerate(items):
        if item.session is None and int((index + 1) * share) > int(index * share):
            batch.append(item)
        else:
            interactive.append(item)
    return interactive, batch


def batch_lines(items: Sequence[WorkloadItem], model: str) -> bytes:
    """The JSONL input of the batch: one deterministic chat completion per item."""
    return b"".join(
        _encoder.encode(
            {
                "custom_id": f"{item.id}-{index}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": model,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": item.message}],
                },
            }
        )
        + b"\n"
        for index, item in enumerate(items)
    )


async def run_batch_share(
    base_url: str,
    items: Sequence[WorkloadItem],
    *,
    model: str,
    api_key: str | None,
    timeout_s: float,
) -> BatchShare:
    """Send ``items`` as one batch, wait for it to end, and read its figures from ``/stats``
    (the difference before and after). Raises `TimeoutError` after ``timeout_s``."""
    base = base_url.rstrip("/")
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        before = await _lane(http, base)
        started = time.perf_counter()
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", batch_lines(items, model), filename="load-batch.jsonl")
        async with http.post(f"{base}/v1/files", data=form) as response:
            response.raise_for_status()
            file_id = (await response.json())["id"]
        create = {
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
        async with http.post(f"{base}/v1/batches", json=create) as response:
            response.raise_for_status()
            batch = await response.json()
        with anyio.fail_after(timeout_s):
            while batch["status"] not in _TERMINAL:
                await anyio.sleep(0.2)
                async with http.get(f"{base}/v1/batches/{batch['id']}") as response:
                    batch = await response.json()
        wall_s = time.perf_counter() - started
        after = await _lane(http, base)
    counts = batch["request_counts"]
    cost = after.cost_usd_micros - before.cost_usd_micros
    interactive = after.interactive_usd_micros - before.interactive_usd_micros
    return BatchShare(
        lines=counts["total"],
        status=batch["status"],
        wall_s=round(wall_s, 3),
        completed=counts["completed"],
        failed=counts["failed"],
        cache_hits=after.cache_hits - before.cache_hits,
        provider_batched=after.provider_batched - before.provider_batched,
        deferred=after.deferred - before.deferred,
        cost_usd_micros=cost,
        interactive_usd_micros=interactive,
        saved_usd_micros=max(interactive - cost, 0),
    )


async def _lane(http: aiohttp.ClientSession, base: str) -> _LaneStats:
    async with http.get(f"{base}/stats") as response:
        stats = msgspec.json.decode(await response.read(), type=_Stats)
    return stats.batch or _LaneStats()


def batch_rows(share: BatchShare) -> list[tuple[str, str]]:
    """The batch part of the terminal summary."""
    total = max(share.lines, 1)
    saved = share.saved_usd_micros / max(share.interactive_usd_micros, 1)
    return [
        ("batch lines", f"{share.lines} ({share.status} in {share.wall_s:.1f} s)"),
        ("batch answered", f"{share.completed} ok, {share.failed} failed"),
        (
            "batch sources",
            f"cache {share.cache_hits / total:.0%}, provider batch "
            f"{share.provider_batched / total:.0%}, deferred {share.deferred / total:.0%}",
        ),
        (
            "batch cost",
            f"${share.cost_usd_micros / 1e6:.6f} vs ${share.interactive_usd_micros / 1e6:.6f} "
            f"interactive (saved {saved:.0%})",
        ),
    ]
