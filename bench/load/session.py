"""One load session, as ``frugal load`` and ``make demo`` run it: read ``/stats``, send the
workload, read ``/stats`` again, then print the summary and write the JSON and HTML reports."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio

from bench.load.batch_share import batch_rows, run_batch_share, split
from bench.load.client import fetch_models, fetch_stats, http_session
from bench.load.report import (
    LoadRecord,
    LoadReport,
    RunInfo,
    StatsCheck,
    StatsFigures,
    build_report,
    check_stats,
    with_batch_share,
    write_json,
)
from bench.load.report_html import write_html
from bench.load.runner import LoadOptions, Progress, run_load
from bench.load.summary import format_rows, summary_rows
from bench.load.workload import WorkloadItem

DEFAULT_STRONG_MODEL = "gpt-4o"
DEFAULT_BATCH_MODEL = "gpt-4o-mini"
REPORT_DIR = Path("load-reports")
_STATS_SETTLE_S = 3.0  # streams are accounted just after their last event reaches us


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
    batch_share: float = 0.0,
    batch_model: str = DEFAULT_BATCH_MODEL,
) -> LoadReport:
    """Read ``/stats``, run the load, read ``/stats`` again, print and write the report.

    With ``batch_share`` that share of the single-turn items is sent afterwards as one batch
    through the batch lane (on ``batch_model``), and the report gains its figures."""
    out, err = out or sys.stdout, err or sys.stderr
    items, batched = split(items, batch_share) if batch_share > 0 else (list(items), [])
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
    if batched:
        share = await run_batch_share(
            options.base_url,
            batched,
            model=batch_model,
            api_key=options.api_key,
            timeout_s=options.max_time_s,
        )
        report = with_batch_share(report, share)
        rows = summary_rows(report) + batch_rows(share)
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
