// Frugal cost dashboard: polls GET /stats (the tiles, savings, batch lane, variants, budgets)
// and GET /stats/history (every chart: per-minute aggregates kept by the server, so a reload
// or another replica shows the same lines) and draws them with the vendored uPlot.
// Money arrives as integer micro-USD; it is formatted from the integer, and turned into a
// float only to place points on a chart. Every text reaches the DOM through textContent.
// `?interval=<ms>` sets the polling period (tests poll fast), `?tenant=` and `?window=` the
// selectors (kept in the address, so a reload keeps them); the state the page has built is
// readable as `window.__frugalDashboard`.
"use strict";

(() => {
  const DEFAULT_INTERVAL_MS = 2000;

  const query = new URLSearchParams(window.location.search);
  const intervalMs = pollInterval(query.get("interval"));
  const WINDOWS = ["15m", "1h", "6h", "24h"];
  const state = {
    intervalMs,
    tenant: query.get("tenant") || "", // "" = every tenant
    window: WINDOWS.includes(query.get("window")) ? query.get("window") : "1h",
    history: null, // the last /stats/history body
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

  const chart = (name, options) => new window.FrugalTimeChart(
    name, { ...options, format: formats[options.format] }, (state.charts[name] = {}));
  const charts = {
    spend: chart("spend", { format: "usd" }),
    buckets: chart("buckets", { format: "usd", bars: true }),
    saved: chart("saved", { format: "usd" }),
    cache: chart("cache", { format: "percent", maxY: 100 }),
    routes: chart("routes", { format: "percent", maxY: 100 }),
    latency: chart("latency", { format: "ms" }),
  };

  const MECHANISMS = {
    exact_cache: "exact cache",
    semantic_cache: "semantic cache",
    routing: "routing",
    batch: "batch",
  };

  const sum = (values) => values.reduce((a, b) => a + b, 0);

  function listing(object, fn) {
    const entries = Object.entries(object);
    return entries.length ? entries.map(([k, v]) => `${k} ${fn(v)}`).join(" · ") : "none yet";
  }

  // Every chart from the history points (oldest first, one per `step_s`, empty ones too).
  function updateCharts(history) {
    const points = history.points;
    const xs = points.map((p) => p.t);
    const minutes = Math.round(history.window_s / 60);
    const span = minutes >= 60 ? `${minutes / 60} h` : `${minutes} min`;

    // Spend by model, cumulative over the window.
    const models = [...new Set(points.flatMap((p) => Object.keys(p.cost_by_model)))].sort();
    const running = Object.fromEntries(models.map((m) => [m, 0]));
    const spend = Object.fromEntries(models.map((m) => [m, []]));
    for (const p of points) {
      for (const m of models) {
        running[m] += p.cost_by_model[m] || 0;
        spend[m].push(running[m] / 1e6);
      }
    }
    charts.spend.replace(xs, spend);
    const totals = Object.fromEntries(models.map((m) => [m, running[m]]));
    setText("spend-summary", `${listing(totals, usd)} in the last ${span}`);

    charts.buckets.replace(xs, { spend: points.map((p) => p.cost_usd_micros / 1e6) });
    const spent = sum(points.map((p) => p.cost_usd_micros));
    setText("buckets-summary", `${usd(spent)} over ${points.length} intervals of`
      + ` ${history.step_s / 60} min`);

    const saved = Object.fromEntries(Object.entries(MECHANISMS).map(([key, label]) =>
      [label, points.map((p) => p.saved[key] / 1e6)]));
    charts.saved.replace(xs, saved);
    setText("saved-summary", `${usd(sum(points.map((p) => p.saved.total)))} saved in the`
      + ` last ${span}`);

    const rate = (p, hits) => (p.calls ? (100 * hits) / p.calls : null);
    charts.cache.replace(xs, {
      any: points.map((p) => rate(p, p.exact_hits + p.semantic_hits)),
      exact: points.map((p) => rate(p, p.exact_hits)),
      semantic: points.map((p) => rate(p, p.semantic_hits)),
    });
    const calls = sum(points.map((p) => p.calls));
    const hits = sum(points.map((p) => p.exact_hits + p.semantic_hits));
    setText("cache-summary", `${percent(calls ? hits / calls : 0)} of ${count(calls)} calls`
      + ` answered from the cache in the last ${span}`);

    const tiers = [...new Set(points.flatMap((p) => Object.keys(p.by_tier)))].sort();
    charts.routes.replace(xs, Object.fromEntries(tiers.map((tier) =>
      [tier, points.map((p) => rate(p, p.by_tier[tier] || 0))])));
    const routed = Object.fromEntries(tiers.map((t) => [t, sum(points.map((p) =>
      p.by_tier[t] || 0))]));
    setText("routes-summary", listing(routed, (n) => `${count(n)} (${percent(calls ? n / calls
      : 0)})`));

    charts.latency.replace(xs, {
      p50: points.map((p) => p.latency_p50_ms),
      p95: points.map((p) => p.latency_p95_ms),
      "TTFT p50": points.map((p) => p.ttft_p50_ms),
    });
    const sampled = points.filter((p) => p.latency_p50_ms != null);
    const last = sampled.at(-1);
    setText("latency-summary", last
      ? `latest interval: p50 ≈ ${last.latency_p50_ms.toFixed(1)} ms,`
        + ` p95 ≈ ${last.latency_p95_ms.toFixed(1)} ms (estimated from a histogram)`
      : "no requests in this window");

    const who = history.tenant ? `tenant ${history.tenant}` : "all tenants";
    setText("history-note", `Charts: ${who}, last ${span} in ${history.step_s / 60}-min`
      + ` points, kept by the server for ${history.retention_s / 3600} h`
      + " (every replica and a reload show the same).");
  }

  // --- savings, batch lane and variants ----------------------------------------------------

  function updateSavings(stats) {
    const rows = Object.entries(MECHANISMS).map(([key, label]) => {
      const row = document.createElement("tr");
      row.dataset.mechanism = key;
      row.dataset.micros = String(stats.saved[key]);
      const cells = [label, usd(stats.saved[key]), stats.saved_baselines[key] || ""];
      cells.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        cell.className = ["", "money", "why"][i];
        cell.textContent = text;
        row.append(cell);
      });
      return row;
    });
    document.getElementById("saved-rows").replaceChildren(...rows);
  }

  function updateBatch(stats) {
    const lane = stats.batch;
    const kpi = setText("kpi-batch", lane ? `${count(lane.requests)} requests` : "–");
    kpi.dataset.value = lane ? String(lane.requests) : "";
    setText("kpi-batch-detail", lane
      ? `cost ${usd(lane.cost_usd_micros)} · saved ${usd(lane.saved_usd_micros)} vs interactive`
      : (stats.tenant ? "fleet-wide only" : "lane disabled"));
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function updateVariants(stats) {
    const section = document.getElementById("variants");
    section.hidden = stats.variants.length === 0;
    const ms = (v) => (v == null ? "–" : `${v.toFixed(1)} ms`);
    document.getElementById("variant-rows").replaceChildren(...stats.variants.map((v) => {
      const row = document.createElement("tr");
      row.dataset.variant = `${v.agent}/${v.variant}`;
      row.append(cell(v.agent), cell(v.variant), cell(count(v.requests)),
        cell(usd(v.cost_usd_micros)),
        cell(v.requests ? usd(Math.floor(v.cost_usd_micros / v.requests)) : "–"),
        cell(ms(v.mean_latency_ms)), cell(count(v.cache_hits)), cell(count(v.fallbacks)),
        cell(count(v.feedback)), cell(v.mean_score == null ? "–" : v.mean_score.toFixed(2)));
      return row;
    }));
  }

  // --- selectors --------------------------------------------------------------------------

  const tenantSelect = document.getElementById("tenant");
  const windowSelect = document.getElementById("window");
  windowSelect.value = state.window;

  function updateTenants(stats, history) {
    const names = new Set([...Object.keys(stats.tenant ? {} : stats.by_tenant),
      ...history.tenants]);
    if (state.tenant) names.add(state.tenant);
    const wanted = ["", ...[...names].sort()];
    const have = [...tenantSelect.options].map((o) => o.value);
    if (wanted.join("\n") === have.join("\n")) return;
    tenantSelect.replaceChildren(...wanted.map((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name || "All tenants";
      return option;
    }));
    tenantSelect.value = state.tenant;
  }

  function choose() {
    state.tenant = tenantSelect.value;
    state.window = windowSelect.value;
    const url = new URL(window.location.href);
    for (const [key, value] of [["tenant", state.tenant], ["window", state.window]]) {
      if (value) url.searchParams.set(key, value);
      else url.searchParams.delete(key);
    }
    window.history.replaceState(null, "", url);
    window.clearTimeout(state.timer);
    poll();
  }
  tenantSelect.addEventListener("change", choose);
  windowSelect.addEventListener("change", choose);

  // --- tiles and budgets ------------------------------------------------------------------

  function updateTiles(stats, history) {
    setText("kpi-calls", count(stats.calls)).dataset.value = String(stats.calls);
    const tokens = stats.tokens;
    setText("kpi-tokens", `${count(tokens.input)} in (${count(tokens.cached_input)} cached)`
      + ` · ${count(tokens.output)} out`);
    setMoney("kpi-cost", stats.cost_usd_micros);
    setText("kpi-window", stats.tenant ? `tenant ${stats.tenant}`
      : `${usd(stats.window_spend_usd_micros)} in the last ${Math.round(stats.window_s / 60)} min`);
    setMoney("kpi-avg", stats.avg_cost_usd_micros);
    setMoney("kpi-monthly", stats.estimated_monthly_usd_micros);
    setMoney("kpi-saved", stats.saved_usd_micros);
    setText("kpi-saved-split", Object.entries(MECHANISMS)
      .map(([key, label]) => `${label} ${usd(stats.saved[key])}`).join(" · "));
    // A tenant's /stats has no cache breakdown: its hits come from the history window.
    const windowed = Boolean(stats.tenant);
    const points = history.points;
    const calls = windowed ? sum(points.map((p) => p.calls)) : stats.calls;
    const exact = windowed ? sum(points.map((p) => p.exact_hits)) : stats.cache.exact_hits;
    const semantic = windowed ? sum(points.map((p) => p.semantic_hits))
      : stats.cache.semantic_hits;
    const where = windowed ? " in the window" : "";
    setText("kpi-exact", percent(calls ? exact / calls : 0)).dataset.value = String(exact);
    setText("kpi-exact-count", `${count(exact)} hits${where}`);
    setText("kpi-semantic", percent(calls ? semantic / calls : 0));
    setText("kpi-semantic-count", `${count(semantic)} hits${where}`);
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

  function update(stats, history) {
    state.stats = stats;
    state.history = history;
    updateTenants(stats, history);
    updateTiles(stats, history);
    updateSavings(stats);
    updateBatch(stats);
    updateVariants(stats);
    if (!history.partial) updateCharts(history); // else keep what is drawn
    updateBudgets(stats);
    const at = new Date(stats.generated_at * 1000).toLocaleTimeString();
    setText("updated", `updated ${at} · every ${intervalMs / 1000} s`);
  }

  async function getJson(path) {
    const response = await fetch(path, {
      cache: "no-store",
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(Math.max(10_000, 3 * intervalMs)),
    });
    if (!response.ok) throw new Error(`${path.split("?")[0]}: HTTP ${response.status}`);
    return response.json();
  }

  async function poll() {
    const asked = { tenant: state.tenant, window: state.window };
    try {
      const tenant = asked.tenant ? `tenant=${encodeURIComponent(asked.tenant)}` : "";
      const [stats, history] = await Promise.all([
        getJson(`/stats${tenant ? `?${tenant}` : ""}`),
        getJson(`/stats/history?window=${asked.window}${tenant ? `&${tenant}` : ""}`),
      ]);
      // A selector changed while this poll was out: its answer is for the old choice.
      if (asked.tenant !== state.tenant || asked.window !== state.window) return;
      update(stats, history);
      state.polls += 1;
      document.getElementById("banner").hidden = true;
    } catch (error) {
      state.failures += 1;
      state.lastError = String(error);
      showBanner(`Could not load the figures (${error.message || error}); retrying every`
        + ` ${intervalMs / 1000} s. The figures shown are from the last successful update.`);
    } finally {
      if (asked.tenant === state.tenant && asked.window === state.window) {
        window.clearTimeout(state.timer);
        state.timer = window.setTimeout(poll, intervalMs);
      }
    }
  }

  poll();
})();
