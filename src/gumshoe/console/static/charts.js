// Hourly volume charts (uPlot, vendored in vendor/). Each <div data-chart="ID"> reads its data
// from the JSON block #ID: {"hours": [ms...], "series": [[...], [...]], "labels": [..], "drill": URL,
// "selected": ms|null, "anchor": id (default "events")}. Choosing a bar opens that hour (the same
// link as the table rows under it), with the page's own "plot" choices (the flow drill-down's).
"use strict";

(function charts() {
  const COLORS = ["#2e7d32", "#c62828"];
  const HOUR = 3600;
  const pad = (n) => String(n).padStart(2, "0");
  const day = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const clock = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  // Times on the axis and in the legend in UTC, 24-hour, with the date where the day changes.
  const ticks = (u, splits) => splits.map((v, i) => {
    const d = new Date(v * 1000);
    return i === 0 || (d.getUTCHours() === 0 && d.getUTCMinutes() === 0) ? `${day(d)}\n${clock(d)}` : clock(d);
  });
  // The chosen hour (seconds, or null) shaded: a uPlot draw hook.
  const shadeHour = (selected) => (u) => {
    if (selected === null) return;
    const left = u.valToPos(selected, "x", true);
    const right = u.valToPos(selected + HOUR, "x", true);
    u.ctx.save();
    u.ctx.fillStyle = "rgba(26, 115, 232, 0.12)";
    u.ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
    u.ctx.restore();
  };
  // What the flow drill-down's plot (flowplot.js, loaded after this file) draws the same way.
  window.gumshoeCharts = { HOUR, day, clock, ticks, shadeHour };

  function drillTo(data, hourSeconds) {
    const target = new URL(data.drill, window.location.origin);
    target.searchParams.set("hour", String(hourSeconds * 1000));
    target.searchParams.delete("page");
    if (target.pathname === window.location.pathname) {
      target.searchParams.delete("plot");
      for (const token of new URLSearchParams(window.location.search).getAll("plot")) target.searchParams.append("plot", token);
    }
    target.hash = data.anchor || "events";
    window.location.assign(target.toString());
  }

  function draw(element) {
    const block = document.getElementById(element.dataset.chart);
    if (!block || typeof uPlot === "undefined") return;
    const data = JSON.parse(block.textContent);
    // Each bar stands in the middle of its hour, so the hour's band [h, h + 1 h) holds its bars.
    const xs = data.hours.map((ms) => ms / 1000 + HOUR / 2);
    const selected = data.selected === null || data.selected === undefined ? null : data.selected / 1000;
    const hourOf = (v) => new Date((v - HOUR / 2) * 1000);
    const series = [{ label: "Hour (UTC)", value: (u, v) => (v === null || v === undefined ? "--" : `${day(hourOf(v))} ${clock(hourOf(v))}`) }];
    data.labels.forEach((label, i) => {
      series.push({
        label: label,
        fill: COLORS[i],
        stroke: COLORS[i],
        width: 0,
        paths: uPlot.paths.bars({ size: [0.4, 40, 1], align: i === 0 ? -1 : 1 }),
        points: { show: false },
      });
    });
    const options = {
      width: Math.max(320, element.clientWidth),
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true, range: (u, min, max) => [min - HOUR / 2, max + HOUR / 2] } },
      axes: [{ values: ticks, label: "UTC", space: 60 }, { label: "per hour", size: 60 }],
      series: series,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      hooks: {
        draw: [shadeHour(selected)],
        ready: [(u) => {
          u.over.style.cursor = "pointer";
          u.over.addEventListener("click", () => {
            const i = u.cursor.idx;
            if (i === null || i === undefined) return;
            drillTo(data, data.hours[i] / 1000);
          });
        }],
      },
    };
    const plot = new uPlot(options, [xs, ...data.series], element);
    element.dataset.rendered = String(data.series.reduce((n, s) => n + s.filter((v) => v > 0).length, 0));
    window.addEventListener("resize", () => plot.setSize({ width: Math.max(320, element.clientWidth), height: 240 }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-chart]").forEach(draw);
  });
})();
