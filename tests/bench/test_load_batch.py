"""``frugal load --batch-share``: the non-urgent share goes through the batch lane and the
report shows what it cost against interactive calls."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from bench.load.batch_share import split
from bench.load.cli import main as cli_main
from bench.load.runner import LoadOptions
from bench.load.session import load_and_report
from bench.load.workload import WorkloadItem
from server.config import load_settings
from simulator import SimConfig
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

QUESTIONS = [f"How do I change setting number {i}?" for i in range(6)]


def test_split_sends_every_other_single_turn_item_and_keeps_conversations() -> None:
    items = [WorkloadItem(f"q{i}", q) for i, q in enumerate(QUESTIONS)]
    items.append(WorkloadItem("s0", "hello", session="s"))
    interactive, batch = split(items, 0.5)
    assert [i.id for i in batch] == ["q1", "q3", "q5"]
    assert [i.id for i in interactive] == ["q0", "q2", "q4", "s0"]


def test_a_share_outside_0_to_1_is_refused() -> None:
    assert cli_main(["--batch-share", "1.5", "--no-progress"]) == 2


async def test_the_batch_share_is_billed_at_the_batch_price(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    items = [WorkloadItem(f"q{i}", q) for i, q in enumerate(QUESTIONS)]
    async with run_simulator(SimConfig(batch_delay_s=0.1)) as sim:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                "OPENAI_API_KEY": "k",
                "FRUGAL_REDIS_URL": redis_server.url,
                "FRUGAL_REDIS_KEY_PREFIX": f"load-batch-{uuid.uuid4().hex[:8]}:",
                "FRUGAL_REDIS_TIMEOUT_S": "2",
                "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
                "FRUGAL_BATCH_FILES_DIR": str(tmp_path / "files"),
                "FRUGAL_BATCH_TICK_S": "0.05",
                "FRUGAL_BATCH_POLL_INITIAL_S": "0.05",
                "FRUGAL_BATCH_POLL_MAX_S": "0.2",
            }
        )
        async with run_gateway(settings) as gw:
            out = io.StringIO()
            report = await load_and_report(
                items,
                LoadOptions(base_url=gw.base_url, endpoint="openai", concurrency=2, requests=3),
                workload="batch",
                progress=False,
                out=out,
                err=io.StringIO(),
                batch_share=0.5,
            )
    assert report.answered == 3 and report.stats_check is not None and report.stats_check.ok
    share = report.batch
    assert share is not None
    assert (share.lines, share.status, share.completed) == (3, "completed", 3)
    assert share.provider_batched == 3
    assert 0 < share.cost_usd_micros < share.interactive_usd_micros
    assert share.saved_usd_micros == share.interactive_usd_micros - share.cost_usd_micros
    assert "batch cost" in out.getvalue()
