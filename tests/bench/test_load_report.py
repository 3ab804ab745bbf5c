"""The load report on hand-made records: every figure checked against arithmetic done here."""

from __future__ import annotations

from pathlib import Path

import msgspec

from agent.types import Usage
from bench.load.report import (
    LoadRecord,
    LoadReport,
    RunInfo,
    StatsFigures,
    TimelinePoint,
    baseline_money,
    build_report,
    check_stats,
    percentile,
    summarize,
    write_json,
)
from bench.load.report_html import render_html
from bench.load.summary import format_rows, summary_rows, usd
from metrics.savings import SavedSplit, saved_split

# Per token: gpt-4o 2.5 µUSD in / 10 out; gpt-4o-mini 0.15 in / 0.6 out (DEFAULT_PRICES).
CHEAP_USAGE = Usage(prompt=1000, completion=100)  # mini: 150 + 60 = 210; gpt-4o: 2500 + 1000
STRONG_USAGE = Usage(prompt=2000, completion=200)  # gpt-4o: 5000 + 2000 = 7000


def money_saved() -> SavedSplit:
    return saved_split(7210, 630, 3290, 0)


def record(index: int, **fields: object) -> LoadRecord:
    return msgspec.convert(
        {"index": index, "item_id": f"w{index}", "message": f"q{index}", **fields},
        LoadRecord,
    )


def records() -> list[LoadRecord]:
    cheap = {"tier": "cheap", "model": "gpt-4o-mini", "used_fallback": False}
    hit = {"tier": "cache", "used_fallback": False, "cost_usd_micros": 0}
    return [
        record(
            0,
            message="A",
            group="g1",
            kind="faq",
            latency_ms=100.0,
            ttft_ms=50.0,
            usage=CHEAP_USAGE,
            cost_usd_micros=210,
            saved_usd_micros=3290,  # routed to the cheap model: 3500 on gpt-4o - 210
            finished_s=0.2,
            **cheap,
        ),
        record(
            1,
            message="B",
            kind="technical",
            tier="strong",
            model="gpt-4o",
            used_fallback=False,
            latency_ms=200.0,
            ttft_ms=60.0,
            usage=STRONG_USAGE,
            cost_usd_micros=7000,
            finished_s=0.4,
        ),
        # Exact hit of A: its tokens are known from record 0, re-priced at gpt-4o: 3500.
        record(
            2,
            message="A",
            group="g1",
            kind="faq",
            cache="exact",
            model="gpt-4o-mini",
            saved_usd_micros=210,
            latency_ms=5.0,
            finished_s=0.5,
            expect_cache="exact",
            **hit,
        ),
        # Semantic hit in A's paraphrase group: same tokens, 3500.
        record(
            3,
            message="A, please",
            group="g1",
            cache="semantic",
            model="gpt-4o-mini",
            saved_usd_micros=210,
            latency_ms=6.0,
            finished_s=1.1,
            expect_cache="semantic",
            **hit,
        ),
        # Hit of a gpt-4o answer: the saving is the baseline, 7000. (A realtime question: the
        # gateway should not have served it from cache, and the report says so.)
        record(
            4,
            message="B",
            kind="realtime",
            cache="exact",
            model="gpt-4o",
            saved_usd_micros=7000,
            latency_ms=7.0,
            finished_s=1.2,
            expect_cache="none",
            **hit,
        ),
        # Hit with no known tokens: 420 scaled by this run's gpt-4o-mini mix, 3500/210 → 7000.
        record(
            5,
            message="C",
            cache="semantic",
            model="gpt-4o-mini",
            saved_usd_micros=420,
            latency_ms=8.0,
            finished_s=1.3,
            **hit,
        ),
        record(
            6,
            message="D",
            status=504,
            error_code="upstream_timeout",
            fault="provider",
            latency_ms=900.0,
            finished_s=1.5,
        ),
        record(
            7,
            message="E",
            error_code="client_timeout",
            fault="client",
            latency_ms=60_000.0,
            finished_s=1.9,
        ),
    ]


def run_info(**fields: object) -> RunInfo:
    base = {
        "base_url": "http://127.0.0.1:1",
        "endpoint": "chat",
        "mode": "closed",
        "concurrency": 2,
        "rate": None,
        "planned_requests": 8,
        "duration_s": None,
        "workload": "hand-made",
        "started_at": 0.0,
        "wall_s": 2.0,
        "stopped_by": "requests",
        "strong_model": "gpt-4o",
        "strong_model_source": "--strong-model",
    }
    return msgspec.convert({**base, **fields}, RunInfo)


class TestPercentiles:
    def test_nearest_rank(self) -> None:
        values = [float(v) for v in range(1, 11)]
        assert [percentile(values, q) for q in (50, 90, 99, 100)] == [5.0, 9.0, 10.0, 10.0]
        assert percentile([], 50) == 0.0

    def test_summary_of_unsorted_values(self) -> None:
        s = summarize([200.0, 5.0, 7.0, 100.0, 6.0, 8.0])
        assert (s.count, s.p50, s.p90, s.p99, s.max) == (6, 7.0, 200.0, 200.0, 200.0)


class TestBuildReport:
    def test_counts_rates_and_latency(self) -> None:
        report = build_report(records(), run_info())
        assert (report.requests, report.answered, report.errors) == (8, 6, 2)
        assert report.error_rate == 0.25
        assert report.errors_by_code == {"upstream_timeout": 1, "client_timeout": 1}
        assert report.errors_by_fault == {"provider": 1, "client": 1}
        assert report.throughput_rps == 3.0
        lat = report.latency_ms
        assert (lat.count, lat.p50, lat.p90, lat.p99, lat.max) == (6, 7.0, 200.0, 200.0, 200.0)
        assert report.ttft_ms is not None
        assert (report.ttft_ms.count, report.ttft_ms.p50, report.ttft_ms.p90) == (2, 50.0, 60.0)
        assert report.tokens == Usage(prompt=3000, completion=300)
        assert report.fallbacks == 0

    def test_cache_and_routes(self) -> None:
        report = build_report(records(), run_info())
        cache = report.cache
        assert (cache.exact, cache.semantic, cache.miss) == (2, 2, 2)
        assert (cache.exact_rate, cache.semantic_rate, cache.hit_rate) == (0.3333, 0.3333, 0.6667)
        assert report.routes == {"cache": 4, "cheap": 1, "strong": 1}
        assert report.realtime_cache_hits == 1
        assert report.route_by_kind == {
            "-": {"cache": 2},
            "faq": {"cache": 1, "cheap": 1},
            "realtime": {"cache": 1},
            "technical": {"strong": 1},
        }
        assert report.cache_expectations == {
            "exact": {"exact": 1},
            "none": {"exact": 1},
            "semantic": {"semantic": 1},
        }

    def test_saved_is_split_by_mechanism_as_stats_counts_it(self) -> None:
        money = build_report(records(), run_info()).money
        assert money.saved == saved_split(210 + 7000, 210 + 420, 3290, 0)
        assert money.saved.total == 11_130

    def test_money_against_the_strong_model_what_if(self) -> None:
        money = build_report(records(), run_info()).money
        assert money.served_usd_micros == 210 + 7000
        assert money.strong_no_cache_usd_micros == 3500 + 7000 + 3500 + 3500 + 7000 + 7000
        assert money.below_strong_no_cache_percent == 77.11  # (31500 - 7210) / 31500
        assert money.baseline_methods == {
            "miss_repriced": 2,
            "hit_repriced_tokens": 2,
            "hit_same_price": 1,
            "hit_scaled": 1,
        }

    def test_unpriced_strong_model_gives_no_baseline(self) -> None:
        money = baseline_money([r for r in records() if r.ok], "no-such-model")
        assert money.served_usd_micros == 7210
        assert money.strong_no_cache_usd_micros is None
        assert money.below_strong_no_cache_percent is None
        assert money.saved.total == 11_130  # savings need no price of the strong model

    def test_timeline_buckets_by_finish_second(self) -> None:
        timeline = build_report(records(), run_info()).timeline
        assert timeline == [TimelinePoint(0, 3, 0), TimelinePoint(1, 3, 2), TimelinePoint(2, 0, 0)]


class TestStatsCheck:
    def test_matching_delta_is_ok(self) -> None:
        answered = [r for r in records() if r.ok]
        before = StatsFigures(10, 1000, saved_split(1, 1, 1, 1))
        after = StatsFigures(16, 8210, saved_split(7211, 631, 3291, 1))
        check = check_stats(answered, before, after)
        assert check.ok
        assert check.expected == check.observed == StatsFigures(6, 7210, money_saved())

    def test_a_saving_counted_elsewhere_is_a_mismatch(self) -> None:
        answered = [r for r in records() if r.ok]
        # Same total, but /stats booked the exact hits' saving as routing.
        after = StatsFigures(6, 7210, saved_split(0, 630, 3290 + 7210, 0))
        assert not check_stats(answered, StatsFigures(0, 0), after).ok

    def test_mismatch_is_reported(self) -> None:
        answered = [r for r in records() if r.ok]
        check = check_stats(answered, StatsFigures(0, 0), StatsFigures(7, 7300), fallbacks=1)
        assert not check.ok
        assert check.observed == StatsFigures(7, 7300) and check.fallbacks == 1
        assert "/stats" in check.note
        rows = dict(summary_rows(build_report(records(), run_info(), stats_check=check)))
        assert rows["stats check"].startswith("MISMATCH")


class TestOutputs:
    def test_terminal_table_shows_savings(self) -> None:
        text = format_rows(summary_rows(build_report(records(), run_info())))
        assert "saved        $0.011130 (11130 µUSD): exact cache $0.007210  " in text
        assert "semantic cache $0.000630  routing $0.003290  batch $0.000000" in text
        assert "with all to gpt-4o (--strong-model) and no cache; served is 77.1% below it" in text
        assert "by fault: provider 1  client 1" in text
        assert "WARNING      1 realtime questions served from cache" in text
        assert usd(-1_500_001) == "-$1.500001"

    def test_json_round_trips(self, tmp_path: Path) -> None:
        report = build_report(records(), run_info())
        path = tmp_path / "out" / "report.json"
        write_json(report, path)
        assert msgspec.json.decode(path.read_bytes(), type=LoadReport) == report

    def test_html_is_self_contained_with_every_chart(self) -> None:
        report = build_report(records(), run_info())
        page = render_html(report, summary_rows(report))
        for chart in (
            "latency-histogram",
            "latency-cdf",
            "throughput",
            "cache-mix",
            "route-mix",
            "cost",
        ):
            assert f'<figure id="{chart}">' in page
        assert page.count("<svg") == 6
        assert "<script" not in page and "http" not in page.replace("http://127.0.0.1:1", "")
        assert "31,500 µUSD" in page and "7,210 µUSD" in page
