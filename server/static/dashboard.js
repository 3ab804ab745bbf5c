// Frugal cost dashboard: polls GET /stats and draws it with the vendored uPlot.
// Money arrives as integer micro-USD; it is formatted from the integer, and turned into a
// float only to place points on a chart. Every text reaches the DOM through textContent.
// `?interval=<ms>` sets the polling period (tests poll fast); the state the page has built
// is readable as `window.__frugalDashboard`.
"use strict";

(() => {
  const DEFAULT_INTERVAL_MS = 2000;
  const MAX_POINTS = 900; // 30 min of history at the default period
  const PALETTE = ["#2f6f4f", "#2563eb", "#d97706", "#9333ea", "#dc2626", "#0891b2",
    "#65a30d", "#db2777"];

  const intervalMs = pollInterval(new URLSearchParams(window.location.search).get("interval"));
  const state = {
    intervalMs,
    polls: 0, // successful polls
    failures: 0, // failed polls since the page loaded
    lastError: null,
    stats: null, // the last /stats body
    charts: {}, // name -> {series, colors, points, last, max, draws}
  };
  window.__frugalDashboard = state;

  function pollInterval(raw) {
    const ms = Number(raw);
    return Number.isFinite(ms) && ms >= 100 ? Math.min(ms, 600_000) : DEFAULT_INTERVAL_MS;
  }

  // --- formatting -------------------------------------------------------------------------

  // Integer micro-USD to dollars: all six decimals below a cent, four below a dollar, else two.
  function usd(micros) {
    const sign = micros < 0 ? "-" : "";
    const abs = Math.abs(micros);
    const decimals = abs < 10_000 ? 6 : abs < 1_000_000 ? 4 : 2;
    const step = 10 ** (6 - decimals);
    const scaled = Math.round(abs / step);
    const whole = Math.floor(scaled / 10 ** decimals);
    const fraction = String(scaled % 10 ** decimals).padStart(decimals, "0");
    return `${sign}$${whole.toLocaleString("en-US")}.${fraction}`;
  }

  // The exact amount, for a title attribute: "$0.123456".
  function usdExact(micros) {
    const digits = String(Math.abs(micros)).padStart(7, "0");
    return `${micros < 0 ? "-" : ""}$${digits.slice(0, -6)}.${digits.slice(-6)}`;
  }

  const count = (n) => n.toLocaleString("en-US");
  const percent = (rate) => `${(rate * 100).toFixed(1)}%`;
  const short = (v) => Number(v.toPrecision(3)).toString();
  const formats = {
    usd: { axis: (v) => `$${short(v)}`, legend: (v) => usd(Math.round(v * 1e6)) },
    percent: { axis: (v) => `${short(v)}%`, legend: (v) => `${v.toFixed(1)}%` },
    ms: { axis: (v) => short(v), legend: (v) => `${v.toFixed(1)} ms` },
  };

  function setText(id, text, title) {
    const el = document.getElementById(id);
    el.textContent = text;
    if (title !== undefined) el.title = title;
    return el;
  }

  function setMoney(id, micros) {
    setText(id, usd(micros), usdExact(micros)).dataset.micros = String(micros);
  }

  // --- charts -----------------------------------------------------------------------------

  const foreground = () => window.getComputedStyle(document.body).color;
  const GRID = "rgba(127, 127, 127, 0.25)";

  // One uPlot chart over time. Series can appear later (a new model, a new route): the chart
  // is then rebuilt, the new series back-filled with `missing` for the earlier points.
  class TimeChart {
    constructor(name, { format, missing = null, bars = false, maxY = null }) {
      this.name = name;
      this.el = document.getElementById(`chart-${name}`);
      this.format = formats[format];
      this.missing = missing;
      this.bars = bars;
      this.maxY = maxY;
      this.xs = [];
      this.columns = new Map(); // series label -> values aligned with xs
      this.halfStep = 30; // seconds; see replace()
      this.plot = null;
      this.info = { series: [], colors: [], points: 0, last: {}, max: 0, draws: 0 };
      state.charts[name] = this.info;
      new ResizeObserver(() => this.resize()).observe(this.el);
    }

    clear() {
      this.xs = [];
      this.columns = new Map();
    }

    // Appends one point per series; series absent from `values` get `absent`. A series new
    // to the chart gets `missing` where others had data, and a gap where none had.
    push(t, values, absent = this.missing) {
      const columns = [...this.columns.values()];
      for (const label of Object.keys(values)) {
        if (this.columns.has(label)) continue;
        const hadData = (i) => columns.some((column) => column[i] != null);
        const backfill = this.xs.map((x, i) => (hadData(i) ? this.missing : null));
        this.columns.set(label, backfill);
      }
      this.xs.push(t);
      for (const [label, column] of this.columns) {
        column.push(label in values ? values[label] : absent);
      }
      if (this.xs.length > MAX_POINTS) {
        this.xs.shift();
        for (const column of this.columns.values()) column.shift();
      }
      this.render();
    }

    // Replaces the whole history (a series the server already keeps, like spend buckets).
    replace(xs, values) {
      this.clear();
      this.xs = xs;
      // Bars are centred on their x: pad the x range by half the spacing so none is cut.
      const gaps = xs.slice(1).map((x, i) => x - xs[i]).filter((gap) => gap > 0);
      this.halfStep = gaps.length ? Math.min(...gaps) / 2 : 30;
      for (const [label, column] of Object.entries(values)) this.columns.set(label, column);
      this.render();
    }

    render() {
      const labels = [...this.columns.keys()];
      const data = [this.xs, ...labels.map((label) => this.columns.get(label))];
      if (!this.plot || labels.join("\n") !== this.info.series.join("\n")) {
        this.build(labels, data);
      } else {
        this.plot.setData(data);
      }
      this.describe(labels);
    }

    describe(labels) {
      const numbers = [...this.columns.values()].flat().filter((v) => typeof v === "number");
      this.info.series = labels;
      this.info.points = this.xs.length;
      this.info.max = numbers.length ? Math.max(...numbers) : 0;
      this.info.last = Object.fromEntries(labels.map((l) => [l, this.columns.get(l).at(-1)]));
    }

    build(labels, data) {
      if (this.plot) this.plot.destroy();
      const ink = foreground();
      this.info.colors = labels.map((label, i) => PALETTE[i % PALETTE.length]);
      const axis = { stroke: ink, grid: { stroke: GRID }, ticks: { stroke: GRID } };
      const maxY = this.maxY;
      this.plot = new window.uPlot(
        {
          width: this.width(),
          height: 220,
          series: [
            {},
            ...labels.map((label, i) => this.seriesOptions(label, PALETTE[i % PALETTE.length])),
          ],
          scales: {
            x: { time: true, range: (u, lo, hi) => this.xRange(lo, hi) },
            y: { range: (u, lo, hi) => [0, maxY ?? (hi > 0 ? hi * 1.15 : 1)] },
          },
          axes: [axis, { ...axis, size: 64, values: (u, splits) => splits.map(this.format.axis) }],
          hooks: { draw: [() => (this.info.draws += 1)] },
        },
        data,
        this.el,
      );
    }

    // Only the options that differ from uPlot's defaults: it copies undefined values too.
    seriesOptions(label, color) {
      const options = { label, stroke: color, width: 2,
        value: (u, v) => (v == null ? "–" : this.format.legend(v)) };
      if (this.bars) {
        options.fill = `${color}99`;
        options.paths = window.uPlot.paths.bars({ size: [0.7, 48] });
        options.points = { show: false };
      }
      return options;
    }

    xRange(lo, hi) {
      if (this.bars) return [lo - this.halfStep, hi + this.halfStep];
      return lo === hi ? [lo - 30, hi + 30] : [lo, hi];
    }

    width() {
      return Math.max(240, Math.floor(this.el.clientWidth));
    }

    resize() {
      if (this.plot && this.plot.width !== this.width()) {
        this.plot.setSize({ width: this.width(), height: 220 });
      }
    }
  }

  const charts = {
    spend: new TimeChart("spend", { format: "usd", missing: 0 }),
    buckets: new TimeChart("buckets", { format: "usd", bars: true }),
    cache: new TimeChart("cache", { format: "percent", maxY: 100 }),
    routes: new TimeChart("routes", { format: "percent", missing: 0, maxY: 100 }),
    latency: new TimeChart("latency", { format: "ms" }),
  };

  function mapValues(object, fn) {
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, fn(v)]));
  }

  function listing(object, fn) {
    const entries = Object.entries(object);
    return entries.length ? entries.map(([k, v]) => `${k} ${fn(v)}`).join(" · ") : "none yet";
  }

  function updateCharts(stats) {
    const t = stats.generated_at;
    const spent = mapValues(stats.by_model, (totals) => totals.cost_usd_micros / 1e6);
    charts.spend.push(t, spent);
    setText("spend-summary", listing(stats.by_model, (m) => usd(m.cost_usd_micros)));

    const points = stats.spend_series;
    const bucketSpend = points.map((p) => p.usd_micros / 1e6);
    charts.buckets.replace(points.map((p) => p.t), { spend: bucketSpend });
    const recent = points.reduce((sum, p) => sum + p.usd_micros, 0);
    setText("buckets-summary", `${usd(recent)} over the last ${points.length} intervals`);

    const answered = stats.calls > 0;
    const rate = (r) => (answered ? r * 100 : null);
    charts.cache.push(t, {
      any: rate(stats.cache.hit_rate),
      exact: rate(stats.cache.exact_hit_rate),
      semantic: rate(stats.cache.semantic_hit_rate),
    });
    setText("cache-summary", `${percent(stats.cache.hit_rate)} of calls answered from the cache`);

    const routed = Object.values(stats.routes).reduce((a, b) => a + b, 0);
    if (routed) charts.routes.push(t, mapValues(stats.routes, (n) => (100 * n) / routed));
    else charts.routes.push(t, {}, null);
    const share = (n) => `${count(n)} (${percent(routed ? n / routed : 0)})`;
    setText("routes-summary", listing(stats.routes, share));

    const lat = stats.latency_ms;
    const ttft = stats.ttft_ms;
    const sampled = (p, value) => (p.count > 0 ? value : null);
    charts.latency.push(t, {
      p50: sampled(lat, lat.p50),
      p95: sampled(lat, lat.p95),
      p99: sampled(lat, lat.p99),
      "TTFT p50": sampled(ttft, ttft.p50),
      "TTFT p95": sampled(ttft, ttft.p95),
    });
    setText("latency-summary", lat.count
      ? `p50 ${lat.p50.toFixed(1)} ms · p95 ${lat.p95.toFixed(1)} ms`
        + ` · p99 ${lat.p99.toFixed(1)} ms`
        + ` over the last ${count(lat.count)} requests; `
        + (ttft.count ? `TTFT p50 ${ttft.p50.toFixed(1)} ms` : "no streamed answers yet")
      : "no requests yet");
  }

  // --- tiles and budgets ------------------------------------------------------------------

  function updateTiles(stats) {
    setText("kpi-calls", count(stats.calls)).dataset.value = String(stats.calls);
    const tokens = stats.tokens;
    setText("kpi-tokens", `${count(tokens.input)} in (${count(tokens.cached_input)} cached)`
      + ` · ${count(tokens.output)} out`);
    setMoney("kpi-cost", stats.cost_usd_micros);
    setText("kpi-window", `${usd(stats.window_spend_usd_micros)} in the last`
      + ` ${Math.round(stats.window_s / 60)} min`);
    setMoney("kpi-avg", stats.avg_cost_usd_micros);
    setMoney("kpi-monthly", stats.estimated_monthly_usd_micros);
    setMoney("kpi-saved", stats.saved_usd_micros);
    setText("kpi-saved-split", `cache ${usd(stats.cache_saved_usd_micros)}`
      + ` · routing ${usd(stats.routing_saved_usd_micros)}`);
    setText("kpi-exact", percent(stats.cache.exact_hit_rate));
    setText("kpi-exact-count", `${count(stats.cache.exact_hits)} hits`);
    setText("kpi-semantic", percent(stats.cache.semantic_hit_rate));
    setText("kpi-semantic-count", `${count(stats.cache.semantic_hits)} hits`);
    setText("kpi-fallbacks", count(stats.fallbacks));
    const unpriced = setText("kpi-unpriced", count(stats.unpriced_calls));
    unpriced.closest(".tile").classList.toggle("warn", stats.unpriced_calls > 0);
    setText("kpi-estimated", stats.estimated_usage_calls
      ? `${count(stats.estimated_usage_calls)} with estimated tokens` : "");
    document.getElementById("simulated").hidden = !stats.simulated;
  }

  function resetTime(epochSeconds) {
    const at = new Date(epochSeconds * 1000);
    const sameDay = at.toDateString() === new Date().toDateString();
    const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return sameDay ? time : `${at.toLocaleDateString()} ${time}`;
  }

  // Two decimals below 1 % so that a little spend does not read as nothing.
  const usedPercent = (p) => `${p > 0 && p < 1 ? p.toFixed(2) : p.toFixed(1)}%`;

  function updateBudgets(stats) {
    const list = document.getElementById("budget-list");
    const none = document.getElementById("no-budgets");
    none.hidden = stats.budget_enabled && stats.budget.length > 0;
    none.textContent = stats.budget_enabled
      ? "Budgets are enabled but no window is capped yet." : "No budgets configured.";
    const template = document.getElementById("budget-template");
    list.replaceChildren(...stats.budget.map((b) => {
      const item = template.content.firstElementChild.cloneNode(true);
      const scope = b.scope === "global" ? "Global" : b.scope.replace(/^tenant:/, "Tenant ");
      const period = { hour: "hourly", day: "daily" }[b.period] || b.period;
      const name = `${scope} · ${period}`;
      item.querySelector(".budget-name").textContent = name;
      const reserved = b.reserved_usd_micros ? ` + ${usd(b.reserved_usd_micros)} reserved` : "";
      item.querySelector(".budget-figures").textContent =
        `${usd(b.spent_usd_micros)}${reserved} of ${usd(b.cap_usd_micros)}`
        + ` (${usedPercent(b.used_percent)})`;
      const meter = item.querySelector("meter");
      meter.value = Math.min(Math.max(b.used_percent, 0), 100);
      meter.setAttribute("aria-label", `${name} budget used, percent`);
      item.querySelector(".budget-reset").textContent = `resets at ${resetTime(b.resets_at)}`;
      item.dataset.usedPercent = String(b.used_percent);
      item.classList.toggle("over", b.used_percent >= 100);
      return item;
    }));
  }

  // --- polling ----------------------------------------------------------------------------

  function showBanner(message) {
    const banner = document.getElementById("banner");
    banner.textContent = message;
    banner.hidden = false;
  }

  function update(stats) {
    // Fewer calls than before: the totals were reset (or another store answered).
    if (state.stats && stats.calls < state.stats.calls) {
      Object.values(charts).forEach((chart) => chart.clear());
    }
    state.stats = stats;
    updateTiles(stats);
    updateCharts(stats);
    updateBudgets(stats);
    const at = new Date(stats.generated_at * 1000).toLocaleTimeString();
    setText("updated", `updated ${at} · every ${intervalMs / 1000} s`);
  }

  async function poll() {
    try {
      const response = await fetch("/stats", {
        cache: "no-store",
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(Math.max(10_000, 3 * intervalMs)),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      update(await response.json());
      state.polls += 1;
      document.getElementById("banner").hidden = true;
    } catch (error) {
      state.failures += 1;
      state.lastError = String(error);
      showBanner(`Could not load /stats (${error.message || error}); retrying every`
        + ` ${intervalMs / 1000} s. The figures shown are from the last successful update.`);
    } finally {
      window.setTimeout(poll, intervalMs);
    }
  }

  poll();
})();
