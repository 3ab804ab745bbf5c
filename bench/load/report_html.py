"""The load report as one self-contained HTML page, charts drawn as inline SVG.

No script and no external file: the page opens anywhere, offline, and can be attached to an
issue as is. Charts: latency histogram and CDF (log scale, since cache hits and misses are
orders of magnitude apart), throughput over time, cache mix, route mix, cost vs baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

from bench.load.report import LoadReport, percentile

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 16, 36
COLORS = {
    "exact": "#2e7d32",
    "semantic": "#66bb6a",
    "miss": "#9e9e9e",
    "ok": "#1565c0",
    "errors": "#c62828",
    "latency": "#1565c0",
    "ttft": "#ef6c00",
    "served": "#2e7d32",
    "baseline": "#c62828",
}
_PALETTE = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#9e9e9e", "#ad1457")

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1360px;color:#222}
h1{font-size:20px}h2{font-size:15px;margin:0 0 6px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(640px,1fr));gap:16px}
figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:10px}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}
.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}svg text{font-size:11px;fill:#444}
"""


class _Scale:
    """Maps data values in ``[lo, hi]`` to pixels in ``[start, end]``, linear or log10."""

    def __init__(self, lo: float, hi: float, start: float, end: float, *, log: bool = False):
        self.log = log
        if log:
            lo, hi = math.log10(max(lo, 1e-3)), math.log10(max(hi, 1e-3))
        self.lo, self.hi = lo, hi if hi > lo else lo + 1
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        v = math.log10(max(value, 1e-3)) if self.log else value
        return self.start + (v - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0**k for k in range(math.ceil(self.lo), math.floor(self.hi) + 1)]
        raw = (self.hi - self.lo) / 5
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
        first = math.ceil(self.lo / step) * step
        return [first + i * step for i in range(int((self.hi - first) / step) + 1)]


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def _frame(x: _Scale, y: _Scale, x_label: str, y_label: str, body: list[str]) -> str:
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img">']
    for t in y.ticks():
        py = y(t)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{_num(t)}</text>')
    for t in x.ticks():
        px = x(t)
        parts.append(
            f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{_num(t)}</text>'
        )
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts.append(f'<path d="M{LEFT},{TOP}V{bottom}H{right}" fill="none" stroke="#888"/>')
    parts.append(
        f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text transform="translate(14,{(TOP + bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    return "".join(parts + body + ["</svg>"])


def _legend(names: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f'<rect x="{LEFT + 10 + 110 * i}" y="{TOP}" width="10" height="10" fill="{color}"/>'
        f'<text x="{LEFT + 24 + 110 * i}" y="{TOP + 9}">{escape(name)}</text>'
        for i, (name, color) in enumerate(names)
    )


def _histogram(values: list[float]) -> str:
    if not values:
        return "<p>no answered request</p>"
    lo, hi = max(min(values), 0.1), max(max(values), 0.2)
    bins = 30
    edges = [lo * (hi / lo) ** (i / bins) for i in range(bins + 1)]
    counts = [0] * bins
    for v in values:
        slot = bins - 1 if hi == lo else int(math.log(max(v, lo) / lo) / math.log(hi / lo) * bins)
        counts[min(slot, bins - 1)] += 1
    x = _Scale(lo, hi, LEFT, WIDTH - RIGHT, log=True)
    y = _Scale(0, max(counts), HEIGHT - BOTTOM, TOP)
    bars = []
    for i, n in enumerate(counts):
        if not n:
            continue
        left, width = x(edges[i]), max(x(edges[i + 1]) - x(edges[i]) - 1, 1)
        bars.append(
            f'<rect x="{left:.1f}" y="{y(n):.1f}" width="{width:.1f}" height="{y(0) - y(n):.1f}"'
            f' fill="{COLORS["latency"]}"><title>{_num(edges[i])}-{_num(edges[i + 1])} ms: '
            f"{n}</title></rect>"
        )
    return _frame(x, y, "latency, ms (log scale)", "requests", bars)


def _cdf(series: dict[str, list[float]]) -> str:
    present = {name: sorted(v) for name, v in series.items() if v}
    if not present:
        return "<p>no answered request</p>"
    every = [v for values in present.values() for v in values]
    x = _Scale(max(min(every), 0.1), max(max(every), 0.2), LEFT, WIDTH - RIGHT, log=True)
    y = _Scale(0, 100, HEIGHT - BOTTOM, TOP)
    body = []
    for name, values in present.items():
        step = max(len(values) // 300, 1)  # at most ~300 points per line
        picks = [*values[::step], values[-1]]
        n = len(picks)
        points = " ".join(f"{x(v):.1f},{y(100 * (i + 1) / n):.1f}" for i, v in enumerate(picks))
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{COLORS[name]}" stroke-width="2"/>'
        )
        p50 = percentile(values, 50)
        body.append(
            f'<circle cx="{x(p50):.1f}" cy="{y(50):.1f}" r="3" fill="{COLORS[name]}">'
            f"<title>{name} p50 {p50:.1f} ms</title></circle>"
        )
    body.append(_legend([(name, COLORS[name]) for name in present]))
    return _frame(x, y, "ms (log scale)", "% of requests at or below", body)


def _throughput(report: LoadReport) -> str:
    points = report.timeline
    x = _Scale(0, max(len(points), 1), LEFT, WIDTH - RIGHT)
    y = _Scale(0, max([p.ok + p.errors for p in points] + [1]), HEIGHT - BOTTOM, TOP)
    body = []
    for name in ("ok", "errors"):
        line = " ".join(f"{x(p.second + 0.5):.1f},{y(getattr(p, name)):.1f}" for p in points)
        body.append(
            f'<polyline points="{line}" fill="none" stroke="{COLORS[name]}" stroke-width="2"/>'
        )
    body.append(_legend([("answered/s", COLORS["ok"]), ("errors/s", COLORS["errors"])]))
    return _frame(x, y, "second of the run", "requests finished", body)


def _hbars(rows: list[tuple[str, int, str]], unit: str = "") -> str:
    if not rows:
        return "<p>nothing to show</p>"
    height = 26 * len(rows) + 10
    top = max(value for _, value, _ in rows) or 1
    span = WIDTH - 250  # room for the value label after the longest bar
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img">']
    for i, (label, value, color) in enumerate(rows):
        y = 6 + 26 * i
        length = span * value / top
        parts.append(
            f'<text x="110" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="116" y="{y}" width="{length:.1f}" height="18" fill="{color}"/>'
            f'<text x="{122 + length:.1f}" y="{y + 14}">{value:,}{unit}</text>'
        )
    return "".join([*parts, "</svg>"])


def _figure(key: str, title: str, chart: str) -> str:
    return f'<figure id="{key}"><h2>{escape(title)}</h2>{chart}</figure>'


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def render_html(report: LoadReport, summary: list[tuple[str, str]]) -> str:
    """The page: ``summary`` (label, text rows, as the terminal table) and the charts."""
    answered = [r for r in report.records if r.ok]
    cache = report.cache
    money = report.money
    cost_rows = [("as served", money.served_usd_micros, COLORS["served"])]
    if money.strong_no_cache_usd_micros is not None:
        cost_rows.append(
            (
                f"what-if: all {money.baseline_model}, no cache",
                money.strong_no_cache_usd_micros,
                COLORS["baseline"],
            )
        )
    routes = [
        (tier, n, _PALETTE[i % len(_PALETTE)]) for i, (tier, n) in enumerate(report.routes.items())
    ]
    check = report.stats_check
    verdict = (
        '<p class="ok">/stats agrees with the responses</p>'
        if check and check.ok
        else '<p class="bad">ERROR: /stats disagrees with the responses</p>'
        if check
        else "<p>/stats was not available: no cross-check</p>"
    )
    charts = [
        _figure(
            "latency-histogram",
            "Latency histogram (answered requests)",
            _histogram([r.latency_ms for r in answered]),
        ),
        _figure(
            "latency-cdf",
            "Latency and time to first token, CDF",
            _cdf(
                {
                    "latency": [r.latency_ms for r in answered],
                    "ttft": [r.ttft_ms for r in answered if r.ttft_ms is not None],
                }
            ),
        ),
        _figure("throughput", "Throughput over time", _throughput(report)),
        _figure(
            "cache-mix",
            "Cache mix",
            _hbars(
                [
                    ("exact hit", cache.exact, COLORS["exact"]),
                    ("semantic hit", cache.semantic, COLORS["semantic"]),
                    ("miss", cache.miss, COLORS["miss"]),
                ]
            ),
        ),
        _figure("route-mix", "Route mix", _hbars(routes)),
        _figure("cost", "Cost vs the what-if (micro-USD)", _hbars(cost_rows, " µUSD")),
    ]
    kinds = [
        (kind, ", ".join(f"{t} {n}" for t, n in tiers.items()))
        for kind, tiers in report.route_by_kind.items()
    ]
    expectations = [
        (f"expected {hint}", ", ".join(f"{k} {n}" for k, n in got.items()))
        for hint, got in report.cache_expectations.items()
    ]
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Frugal load report</title><style>{_STYLE}</style></head><body>"
        f"<h1>Frugal load report</h1>{verdict}{_table(summary)}"
        f'<div class="grid">{"".join(charts)}</div>'
        f"<h2>Routes by question kind</h2>{_table(kinds)}"
        f"<h2>Cache by workload hint</h2>{_table(expectations)}"
        f"<p>{escape(money.note)}</p></body></html>\n"
    )


def write_html(report: LoadReport, summary: list[tuple[str, str]], path: Path) -> None:
    """Write `render_html` to ``path`` (parent directories created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, summary), encoding="utf-8")
