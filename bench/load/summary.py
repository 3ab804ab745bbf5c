"""The load report as (label, text) rows: the terminal table and the HTML page's header."""

from __future__ import annotations

from bench.load.report import LatencySummary, LoadReport


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
    saved = money.saved
    rows.append(
        (
            "saved",
            f"{usd(saved.total)} ({saved.total} µUSD): exact cache {usd(saved.exact_cache)}  "
            f"semantic cache {usd(saved.semantic_cache)}  routing {usd(saved.routing)}  "
            f"batch {usd(saved.batch)}  (as /stats and the dashboard count it)",
        )
    )
    what_if = money.strong_no_cache_usd_micros
    if what_if is not None and money.below_strong_no_cache_percent is not None:
        rows += [
            (
                "what-if",
                f"{usd(what_if)} ({what_if} µUSD) with all to {money.baseline_model} "
                f"({run.strong_model_source}) and no cache; served is "
                f"{money.below_strong_no_cache_percent:.1f}% below it",
            ),
            ("what-if by", _counts(money.baseline_methods)),
        ]
    else:
        rows.append(("what-if", money.note))
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
