// Frugal dashboard: one uPlot time chart (loaded before dashboard.js, which creates them).
// `FrugalTimeChart(name, {format, bars, maxY}, info)`: `format` has `axis` and `legend`
// formatters; `info` is the object the chart keeps its description in (series, colours,
// points, last values, max, draws), readable by tests through `window.__frugalDashboard`.
"use strict";

(() => {
  const PALETTE = ["#2f6f4f", "#2563eb", "#d97706", "#9333ea", "#dc2626", "#0891b2",
    "#65a30d", "#db2777"];

  const foreground = () => window.getComputedStyle(document.body).color;
  const GRID = "rgba(127, 127, 127, 0.25)";

  // One uPlot chart over time, redrawn from the server's history on every poll. A new set
  // of series (a new model, a new route) rebuilds the plot; otherwise only the data changes.
  class TimeChart {
    constructor(name, { format, bars = false, maxY = null }, info) {
      this.name = name;
      this.el = document.getElementById(`chart-${name}`);
      this.format = format;
      this.bars = bars;
      this.maxY = maxY;
      this.xs = [];
      this.columns = new Map(); // series label -> values aligned with xs
      this.halfStep = 30; // seconds; see replace()
      this.plot = null;
      this.info = Object.assign(info, { series: [], colors: [], points: 0, last: {}, max: 0,
        draws: 0 });
      new ResizeObserver(() => this.resize()).observe(this.el);
    }

    // Replaces the whole history with `xs` and one column per series.
    replace(xs, values) {
      this.xs = xs;
      this.columns = new Map(Object.entries(values));
      // Bars are centred on their x: pad the x range by half the spacing so none is cut.
      const gaps = xs.slice(1).map((x, i) => x - xs[i]).filter((gap) => gap > 0);
      this.halfStep = gaps.length ? Math.min(...gaps) / 2 : 30;
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
      // The latest value of each series that has one.
      this.info.last = Object.fromEntries(labels.map((l) => {
        const values = this.columns.get(l).filter((v) => v != null);
        return [l, values.length ? values.at(-1) : null];
      }));
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
      // Points always shown: an interval between two empty ones has no line to draw.
      const options = { label, stroke: color, width: 2, points: { show: true, size: 5 },
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

  window.FrugalTimeChart = TimeChart;
})();
