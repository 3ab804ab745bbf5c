"""``frugal load``: send a workload to the gateway and report speed, cache, routes and money.

Also ``frugal load --make-workload OUT ...`` (the workload generator) and ``frugal load
--demo`` (simulator + gateway + this load, all started and stopped here). Exit status: 0 when
the run finished and ``/stats`` agrees with the responses, 1 when it disagrees, when no request
was answered or when the hard time limit stopped the run, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio

from bench.load.client import fetch_models, fetch_stats, http_session
from bench.load.report import (
    LatencySummary,
    LoadRecord,
    LoadReport,
    RunInfo,
    StatsCheck,
    StatsFigures,
    build_report,
    check_stats,
    write_json,
)
from bench.load.report_html import write_html
from bench.load.runner import DEFAULT_BASE_URL, LoadOptions, Progress, run_load
from bench.load.workload import (
    WorkloadError,
    WorkloadItem,
    default_workload_path,
    read_workload,
)

DEFAULT_STRONG_MODEL = "gpt-4o"
REPORT_DIR = Path("load-reports")
DEFAULT_MAX_TIME_S = 900.0
_DRAIN_S = 30.0
_STATS_SETTLE_S = 3.0  # streams are accounted just after their last event reaches us


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frugal load",
        description="Send a workload to the gateway; report speed, cache hits, routes and money.",
    )
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="the gateway")
    parser.add_argument(
        "--endpoint",
        choices=("chat", "stream", "openai"),
        default="chat",
        help="POST /chat, GET /chat/stream (SSE) or POST /v1/chat/completions",
    )
    parser.add_argument("--openai-stream", action="store_true", help="stream on --endpoint openai")
    parser.add_argument("--workload", type=Path, default=None, help="JSONL workload file")
    loop = parser.add_mutually_exclusive_group()
    loop.add_argument("--concurrency", type=int, default=8, help="closed loop: requests in flight")
    loop.add_argument("--rate", type=float, default=None, help="open loop: requests per second")
    parser.add_argument("--requests", type=int, default=None, help="stop after N (cycles)")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument(
        "--max-time",
        type=float,
        default=None,
        help=f"hard limit, seconds (default: --duration + --timeout + {_DRAIN_S:g} s, "
        f"else {DEFAULT_MAX_TIME_S:g} s)",
    )
    parser.add_argument("--api-key", default=None, help="sent as a Bearer token")
    parser.add_argument("--strong-model", default=None, help="baseline model (default: asked)")
    parser.add_argument("--json", type=Path, default=None, help="JSON report path")
    parser.add_argument("--html", type=Path, default=None, help="HTML report path")
    parser.add_argument("--no-progress", action="store_true", help="no progress line")
    # Handled before parsing (they take their own arguments); listed here for --help.
    parser.add_argument(
        "--make-workload", metavar="OUT", help="generate a workload file instead (see its --help)"
    )
    parser.add_argument(
        "--demo", action="store_true", help="start a simulator and a gateway, load them, stop"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--make-workload" in arguments:
        from bench.load.workload import make_workload_cli

        return make_workload_cli(arguments)
    if "--demo" in arguments:
        from bench.load.demo import main as demo_main

        arguments.remove("--demo")
        return demo_main(arguments)
    args = build_parser().parse_args(arguments)
    try:
        options = LoadOptions(
            base_url=args.base_url,
            endpoint=args.endpoint,
            openai_stream=args.openai_stream,
            concurrency=args.concurrency,
            rate=args.rate,
            requests=args.requests,
            duration_s=args.duration,
            request_timeout_s=args.timeout,
            max_time_s=args.max_time or _max_time(args.duration, args.timeout),
            api_key=args.api_key,
        )
    except ValueError as exc:
        print(f"frugal load: {exc}", file=sys.stderr)
        return 2
    path = args.workload or default_workload_path()
    try:
        items = read_workload(path)
    except (OSError, WorkloadError) as exc:
        print(f"frugal load: {exc}", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        report = anyio.run(
            lambda: load_and_report(
                items,
                options,
                workload=str(path),
                strong_model=args.strong_model,
                json_path=args.json or REPORT_DIR / f"load-{stamp}.json",
                html_path=args.html or REPORT_DIR / f"load-{stamp}.html",
                progress=not args.no_progress,
            ),
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
    except KeyboardInterrupt:
        print("\nfrugal load: interrupted", file=sys.stderr)
        return 130
    return exit_code(report)


def _max_time(duration_s: float | None, timeout_s: float) -> float:
    # A duration-bound run stops sending at the duration and then drains what is in flight.
    return DEFAULT_MAX_TIME_S if duration_s is None else duration_s + timeout_s + _DRAIN_S


def exit_code(report: LoadReport) -> int:
    """0 for a clean run; 1 on a /stats mismatch, nothing answered or the hard limit hit."""
    check = report.stats_check
    failed = (check is not None and not check.ok) or report.answered == 0
    return 1 if failed or report.run.stopped_by == "max_time" else 0


async def load_and_report(
    items: Sequence[WorkloadItem],
    options: LoadOptions,
    *,
    workload: str,
    strong_model: str | None = None,
    json_path: Path | None = None,
    html_path: Path | None = None,
    progress: bool = True,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> LoadReport:
    """Read ``/stats``, run the load, read ``/stats`` again, print and write the report."""
    out, err = out or sys.stdout, err or sys.stderr
    async with http_session(2) as http:
        before = await fetch_stats(http, options.base_url, options.api_key)
        models = await fetch_models(http, options.base_url, options.api_key)
    planned = options.requests or (None if options.duration_s else len(items))
    live = Progress(planned)
    async with anyio.create_task_group() as group:
        if progress:
            group.start_soon(show_progress, live, err)
        result = await run_load(items, options, live)
        group.cancel_scope.cancel()
    answered = [r for r in result.records if r.ok]
    check = await _stats_check(options, answered, before)
    name, source = _strong_model(strong_model, answered, models)
    run = RunInfo(
        base_url=options.base_url,
        endpoint=options.endpoint + ("-stream" if options.openai_stream else ""),
        mode="closed" if options.rate is None else "open",
        concurrency=options.concurrency if options.rate is None else None,
        rate=options.rate,
        planned_requests=planned,
        duration_s=options.duration_s,
        workload=workload,
        started_at=result.started_at,
        wall_s=result.wall_s,
        stopped_by=result.stopped_by,
        strong_model=name,
        strong_model_source=source,
    )
    report = build_report(result.records, run, stats_check=check)
    rows = summary_rows(report)
    print(format_rows(rows), file=out)
    for line in await anyio.to_thread.run_sync(_write_files, report, rows, json_path, html_path):
        print(line, file=out)
    if check is not None and not check.ok:
        print(
            f"ERROR: /stats mismatch: expected {check.expected}, observed {check.observed}; "
            f"{check.note}",
            file=err,
        )
    if result.stopped_by == "max_time":
        print(f"ERROR: the run hit --max-time {options.max_time_s:g} s", file=err)
    return report


def _write_files(
    report: LoadReport, rows: list[tuple[str, str]], json_path: Path | None, html_path: Path | None
) -> list[str]:
    written = []
    if json_path is not None:
        write_json(report, json_path)
        written.append(f"JSON report: {json_path}")
    if html_path is not None:
        write_html(report, rows, html_path)
        written.append(f"HTML report: {html_path.resolve()}")
    return written


async def _stats_check(
    options: LoadOptions, answered: list[LoadRecord], before: tuple[StatsFigures, int] | None
) -> StatsCheck | None:
    if before is None:
        return None
    deadline = anyio.current_time() + _STATS_SETTLE_S
    async with http_session(1) as http:
        while True:
            after = await fetch_stats(http, options.base_url, options.api_key)
            if after is None:
                return None
            check = check_stats(answered, before[0], after[0], fallbacks=after[1] - before[1])
            if check.ok or anyio.current_time() > deadline:
                return check
            await anyio.sleep(0.1)


def _strong_model(
    given: str | None, answered: list[LoadRecord], models: list[str]
) -> tuple[str, str]:
    # The name and where it came from: the flag, the run itself, /v1/models or the default.
    if given:
        return given, "--strong-model"
    seen = [r.model for r in answered if r.tier == "strong" and r.model and not r.used_fallback]
    if seen:
        return max(set(seen), key=seen.count), "strong-tier answers of this run"
    if len(models) >= 3:  # auto, cheap, strong, fallback (duplicates dropped)
        return models[2], "/v1/models"
    return DEFAULT_STRONG_MODEL, "default"


async def show_progress(live: Progress, stream: TextIO) -> None:
    """A progress line every half second on a terminal (redrawn), every 5 s otherwise."""
    tty = stream.isatty()
    try:
        while True:
            await anyio.sleep(0.5 if tty else 5.0)
            total = live.planned
            bar = ""
            if total:
                filled = int(20 * min(live.done / total, 1))
                bar = "[" + "#" * filled + "-" * (20 - filled) + "] "
            line = (
                f"{bar}{live.done}/{total or '?'}  {live.current_rate():.1f} req/s  "
                f"errors {live.errors}  hit rate {100 * live.hit_rate:.0f}%"
            )
            stream.write(f"\r\x1b[K{line}" if tty else f"{line}\n")
            stream.flush()
    finally:
        if tty:
            stream.write("\r\x1b[K")
            stream.flush()


def usd(micros: int) -> str:
    """Integer micro-USD as dollars with six decimals, without floats."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}${whole}.{frac:06d}"


def _counts(counts: dict[str, int]) -> str:
    return "  ".join(f"{name} {n}" for name, n in counts.items()) or "-"


def _lat(s: LatencySummary) -> str:
    return f"p50 {s.p50:.1f}  p90 {s.p90:.1f}  p99 {s.p99:.1f}  max {s.max:.1f}  (n={s.count})"


def summary_rows(report: LoadReport) -> list[tuple[str, str]]:
    """The report as (label, text) rows: the terminal table and the HTML page's header."""
    run, cache, money = report.run, report.cache, report.money
    loop = f"closed loop x{run.concurrency}" if run.mode == "closed" else f"open loop {run.rate}/s"
    errors = f"{report.errors} ({100 * report.error_rate:.2f}%)"
    if report.errors:
        errors += f"  by code: {_counts(report.errors_by_code)}"
        errors += f"  by fault: {_counts(report.errors_by_fault)}"
    rows = [
        ("run", f"{run.endpoint} on {run.base_url}, {loop}, stopped by {run.stopped_by}"),
        ("requests", f"{report.requests} sent, {report.answered} answered in {run.wall_s:.1f} s"),
        ("throughput", f"{report.throughput_rps:.2f} answered/s"),
        ("errors", errors),
        ("latency ms", _lat(report.latency_ms)),
        ("ttft ms", _lat(report.ttft_ms) if report.ttft_ms else "n/a (not streamed)"),
        (
            "cache",
            f"exact {cache.exact} ({100 * cache.exact_rate:.1f}%)  semantic "
            f"{cache.semantic} ({100 * cache.semantic_rate:.1f}%)  miss {cache.miss}  "
            f"hit rate {100 * cache.hit_rate:.1f}%",
        ),
        ("routes", _counts(report.routes)),
        ("fallbacks", "unknown" if report.fallbacks is None else str(report.fallbacks)),
        (
            "tokens",
            f"prompt {report.tokens.prompt} (provider-cached "
            f"{report.tokens.cached_prompt})  completion {report.tokens.completion}",
        ),
        ("cost served", f"{usd(money.served_usd_micros)} ({money.served_usd_micros} µUSD)"),
    ]
    if money.baseline_usd_micros is not None and money.saved_usd_micros is not None:
        rows += [
            (
                "baseline",
                f"{usd(money.baseline_usd_micros)} ({money.baseline_usd_micros} µUSD)"
                f": all to {money.baseline_model} ({run.strong_model_source}), no cache",
            ),
            (
                "saved",
                f"{usd(money.saved_usd_micros)} ({money.saved_usd_micros} µUSD) = "
                f"{money.saved_percent:.1f}%",
            ),
            ("baseline by", _counts(money.baseline_methods)),
        ]
    else:
        rows.append(("baseline", money.note))
    if report.realtime_cache_hits:
        rows.append(
            ("WARNING", f"{report.realtime_cache_hits} realtime questions served from cache")
        )
    check = report.stats_check
    if check is None:
        rows.append(("stats check", "skipped (/stats unavailable)"))
    else:
        rows.append(
            (
                "stats check",
                f"{'ok' if check.ok else 'MISMATCH'}: /stats calls "
                f"+{check.observed.calls} vs {check.expected.calls} answered; cost "
                f"+{check.observed.cost_usd_micros} vs {check.expected.cost_usd_micros} "
                "µUSD in the responses",
            )
        )
    return rows


def format_rows(rows: list[tuple[str, str]]) -> str:
    """Rows as an aligned two-column table."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {text}" for label, text in rows)


if __name__ == "__main__":
    sys.exit(main())
