"""`frugal load` against the real gateway (in-process, simulated provider) over real sockets."""

from __future__ import annotations

import io
import itertools
from collections import defaultdict
from pathlib import Path

import anyio
import anyio.abc
import pytest

from bench.load.cli import main as cli_main
from bench.load.client import Endpoint
from bench.load.report import LoadRecord
from bench.load.runner import LoadOptions, Progress, run_load
from bench.load.session import exit_code, load_and_report
from bench.load.workload import ExpectCache, WorkloadItem, read_workload, write_workload
from server.config import load_settings
from server.settings import Settings
from tests.support.gateway import run_gateway
from tests.support.redis_server import free_port

pytestmark = pytest.mark.anyio


def settings(ttft_ms: int = 0) -> Settings:
    pace = {"TTFT_MS": str(ttft_ms), "TOKENS_PER_S": "100000"}
    return load_settings(
        {
            f"FRUGAL_SIMULATED_{tier}_{knob}": v
            for tier in ("CHEAP", "STRONG")
            for knob, v in pace.items()
        }
    )


# Distinct topics, so only the repeats hit (exactly).
QUESTIONS = (
    "How do I reset my password?",
    "Do you ship to Canada?",
    "Where can I download my invoice?",
)


def tiny_workload(path: Path) -> list[WorkloadItem]:
    a, b, c = QUESTIONS
    lines: list[tuple[str, ExpectCache]] = [
        (a, "none"),
        (b, "none"),
        (a, "exact"),
        (c, "none"),
        (b, "exact"),
    ]
    items = [WorkloadItem(f"w{i}", text, expect_cache=hint) for i, (text, hint) in enumerate(lines)]
    write_workload(items, path)
    return read_workload(path)


def session_workload() -> list[WorkloadItem]:
    turns = ["Hi, I need help with my order.", "It has not arrived.", "Can you check again?"]
    items = []
    for s in ("s1", "s2"):
        items += [
            WorkloadItem(f"{s}-{i}", t, session=s, user_id="u-1001") for i, t in enumerate(turns)
        ]
    items += [WorkloadItem(f"x{i}", q) for i, q in enumerate(QUESTIONS)]
    # Interleave: s1 turns, singles and s2 turns alternate in the file.
    return [items[i] for i in (0, 3, 6, 1, 4, 7, 2, 5, 8)]


async def test_small_run_counts_hits_and_agrees_with_stats(tmp_path: Path) -> None:
    items = tiny_workload(tmp_path / "tiny.jsonl")
    out, err = io.StringIO(), io.StringIO()
    async with run_gateway(settings()) as gw:
        options = LoadOptions(base_url=gw.base_url, concurrency=1, requests=20)
        report = await load_and_report(
            items,
            options,
            workload="tiny",
            json_path=tmp_path / "r" / "load.json",
            html_path=tmp_path / "r" / "load.html",
            out=out,
            err=err,
        )
    assert (report.requests, report.answered, report.errors) == (20, 20, 0)
    # Sent one at a time: the first ask of each question misses, every other one is exact.
    assert (report.cache.miss, report.cache.exact, report.cache.semantic) == (3, 17, 0)
    assert report.cache_expectations["exact"] == {"exact": 8}  # 2 hinted lines x 4 passes
    assert report.stats_check is not None and report.stats_check.ok
    assert report.stats_check.observed.calls == 20
    assert report.stats_check.observed.cost_usd_micros == report.money.served_usd_micros > 0
    assert report.money.strong_no_cache_usd_micros is not None
    assert report.money.strong_no_cache_usd_micros > report.money.served_usd_micros
    # One definition of "saved": the report's split is /stats' (the check compares them).
    assert report.stats_check.observed.saved == report.money.saved
    assert report.money.saved.exact_cache > 0
    assert report.run.stopped_by == "requests" and exit_code(report) == 0
    assert (tmp_path / "r" / "load.json").stat().st_size > 0
    page = (tmp_path / "r" / "load.html").read_text()
    assert '<figure id="latency-cdf">' in page and page.count("<svg") == 6
    assert "stats check  ok" in out.getvalue() and "HTML report:" in out.getvalue()
    assert "ERROR" not in err.getvalue()


# Three more sets of distinct topics, one per endpoint sharing a gateway (and its cache).
ENDPOINT_QUESTIONS: dict[tuple[Endpoint, bool], tuple[str, str]] = {
    ("stream", False): ("Is there a student discount?", "How do I delete my account?"),
    ("openai", True): ("Can I pay with PayPal?", "What is your refund policy?"),
    ("openai", False): ("How do I cancel my subscription?", "How long does delivery take?"),
}


async def test_every_endpoint_reports_cost_route_and_ttft() -> None:
    async with run_gateway(settings()) as gw:
        for (endpoint, streamed), questions in ENDPOINT_QUESTIONS.items():
            items = [WorkloadItem(f"w{i}", q) for i, q in enumerate(questions)]
            options = LoadOptions(
                base_url=gw.base_url,
                endpoint=endpoint,
                openai_stream=streamed,
                concurrency=2,
                requests=6,
            )
            report = await load_and_report(
                items, options, workload="tiny", progress=False, out=io.StringIO()
            )
            label = f"{endpoint} stream={streamed}"
            assert report.answered == 6, (label, report.errors_by_code)
            assert report.stats_check is not None and report.stats_check.ok, label
            misses = [r for r in report.records if r.cache is None]
            assert misses, label
            assert all(r.cost_usd_micros > 0 and r.usage.completion > 0 for r in misses), label
            assert all(r.tier in ("cheap", "strong") and r.model for r in misses), label
            assert report.cache.exact >= 2, label  # the later passes repeat the first
            if endpoint == "stream" or streamed:
                assert report.ttft_ms is not None and report.ttft_ms.count == 6, label
            else:
                assert report.ttft_ms is None, label


async def test_session_turns_go_out_in_order_one_at_a_time() -> None:
    items = session_workload()
    async with run_gateway(settings(ttft_ms=20)) as gw:
        options = LoadOptions(base_url=gw.base_url, concurrency=8, requests=18)
        result = await run_load(items, options)
    assert len(result.records) == 18 and all(r.ok for r in result.records)
    by_session: dict[str, list[LoadRecord]] = defaultdict(list)
    for r in sorted(result.records, key=lambda r: r.index):
        if r.session is not None:
            by_session[r.session].append(r)
    # The second pass over the file is a new conversation per session.
    assert sorted(by_session) == ["s1", "s1~1", "s2", "s2~1"]
    for turns in by_session.values():
        assert [r.item_id[-1] for r in turns] == ["0", "1", "2"]
        for earlier, later in itertools.pairwise(turns):
            assert later.sent_s >= earlier.finished_s
    # Meanwhile other requests did run concurrently with the sessions.
    spans = sorted((r.sent_s, r.finished_s) for r in result.records)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans))


async def test_open_loop_sends_on_schedule_and_stops_by_itself() -> None:
    items = [WorkloadItem(f"w{i}", q) for i, q in enumerate(QUESTIONS)]
    async with run_gateway(settings()) as gw:
        bounded = await run_load(items, LoadOptions(base_url=gw.base_url, rate=40, requests=12))
        timed = await run_load(items, LoadOptions(base_url=gw.base_url, rate=20, duration_s=0.5))
    assert bounded.stopped_by == "requests" and len(bounded.records) == 12
    assert [r.scheduled_s for r in sorted(bounded.records, key=lambda r: r.index)] == [
        pytest.approx(i / 40) for i in range(12)
    ]
    assert all(r.ok and r.sent_s >= r.scheduled_s for r in bounded.records)
    assert timed.stopped_by == "duration" and len(timed.records) == 10
    assert timed.wall_s < 10


async def test_hard_time_limit_stops_a_stuck_run() -> None:
    # A server that accepts connections and never answers.
    async def swallow(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            async for _ in stream:
                pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    items = [WorkloadItem("w0", QUESTIONS[0])]
    live = Progress(planned=1)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, swallow)
        options = LoadOptions(base_url=f"http://127.0.0.1:{port}", max_time_s=0.5)
        result = await run_load(items, options, live)
        group.cancel_scope.cancel()
    assert result.stopped_by == "max_time" and result.records == [] and live.done == 0
    assert result.wall_s < 5


async def test_unreachable_gateway_is_a_client_side_error() -> None:
    items = [WorkloadItem("w0", QUESTIONS[0])]
    options = LoadOptions(base_url=f"http://127.0.0.1:{free_port()}", requests=3)
    out = io.StringIO()
    report = await load_and_report(items, options, workload="x", progress=False, out=out)
    assert report.errors_by_code == {"connection_error": 3}
    assert report.errors_by_fault == {"client": 3}
    assert report.stats_check is None and exit_code(report) == 1


def test_cli_refuses_bad_options_and_delegates_the_generator(tmp_path: Path) -> None:
    assert cli_main(["--concurrency", "0"]) == 2
    assert cli_main(["--workload", str(tmp_path / "missing.jsonl")]) == 2
    out = tmp_path / "generated.jsonl"
    assert cli_main(["--make-workload", str(out), "--n", "20", "--seed", "1"]) == 0
    assert len(read_workload(out)) == 20
