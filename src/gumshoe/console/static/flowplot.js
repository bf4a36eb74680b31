// The VPC flow drill-down's ticked rows as a chart (uPlot, vendored in vendor/). The page's JSON
// block (#flow-plot-data) holds each row's bytes per hour, sparse:
//   {"first": ms, "count": hours, "selected": ms|null, "colors": [...], "max": n, "plotted": [token...],
//    "rows": {token: {"label": text, "points": [[hour index, bytes], ...]}}}
// A tick (an <input name="plot"> of the page's form) redraws the chart and puts the selection in
// the URL, so it can be shared; without JavaScript the form's button does the same on the server.
"use strict";

(function flowPlot() {
  const { HOUR, day, clock, ticks, shadeHour } = window.gumshoeCharts;  // charts.js, loaded first
  const bytes = (v) => {
    if (v === null || v === undefined) return "--";
    let size = v;
    for (const unit of ["B", "KB", "MB", "GB"]) {
      if (Math.abs(size) < 1000) return unit === "B" ? `${Math.round(size)} B` : `${size.toFixed(1)} ${unit}`;
      size /= 1000;
    }
    return `${size.toFixed(1)} TB`;
  };

  function start(element) {
    const block = document.getElementById(element.dataset.plot);
    const form = document.getElementById("flow-form");
    if (!block || !form || typeof uPlot === "undefined") return;
    const data = JSON.parse(block.textContent);
    const status = document.getElementById("plot-status");
    const empty = document.getElementById("plot-empty");
    const still = document.getElementById("static-plot");
    if (still) still.hidden = true; // the server's drawing, for browsers without JavaScript
    const boxes = () => Array.from(form.querySelectorAll('input[name="plot"]'));
    const xs = Array.from({ length: data.count }, (_, i) => (data.first / 1000) + i * HOUR + HOUR / 2);
    const selected = data.selected === null || data.selected === undefined ? null : data.selected / 1000;
    let chosen = data.plotted.filter((t) => boxes().some((b) => b.value === t && b.checked));
    for (const box of boxes()) if (box.checked && !chosen.includes(box.value)) chosen.push(box.value);
    let plot = null;

    function values(token) {
      const out = new Array(data.count).fill(0);
      const row = data.rows[token];
      if (row) for (const [i, v] of row.points) if (i >= 0 && i < data.count) out[i] = v;
      return out;
    }

    function draw() {
      if (plot) { plot.destroy(); plot = null; }
      element.dataset.plotted = String(chosen.length);
      window.gumshoeFlowPlot = null;
      if (empty) empty.hidden = chosen.length > 0;
      if (!chosen.length) return;
      const series = [{ label: "Hour (UTC)", value: (u, v) => (v === null || v === undefined ? "--"
        : `${day(new Date((v - HOUR / 2) * 1000))} ${clock(new Date((v - HOUR / 2) * 1000))}`) }];
      chosen.forEach((token, i) => {
        const color = data.colors[i % data.colors.length];
        series.push({ label: data.rows[token] ? data.rows[token].label : token, stroke: color, width: 2,
                      points: { show: true, size: 5, fill: color }, value: (u, v) => bytes(v) });
      });
      const options = {
        width: Math.max(320, element.clientWidth),
        height: 260,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        scales: { x: { time: true, range: (u, min, max) => [min - HOUR / 2, max + HOUR / 2] } },
        axes: [{ values: ticks, label: "UTC", space: 60 }, { label: "bytes per hour", size: 80,
                                                              values: (u, splits) => splits.map(bytes) }],
        series: series,
        cursor: { drag: { x: false, y: false } },
        hooks: {
          draw: [shadeHour(selected)],
        },
      };
      plot = new uPlot(options, [xs, ...chosen.map(values)], element);
      window.gumshoeFlowPlot = plot;
    }

    // The selection goes into the URL, and into the page's links that stay on this page.
    function remember() {
      const rewrite = (href) => {
        const target = new URL(href, window.location.origin);
        if (target.pathname !== window.location.pathname) return null;
        target.searchParams.delete("plot");
        for (const token of chosen) target.searchParams.append("plot", token);
        return target;
      };
      const here = rewrite(window.location.href);
      if (here) window.history.replaceState(null, "", here.toString());
      for (const link of document.querySelectorAll("main a[href]")) {
        const target = rewrite(link.getAttribute("href"));
        if (target) link.setAttribute("href", target.pathname + target.search + target.hash);
      }
      const scope = document.querySelector("form.scope fieldset");
      if (scope) {
        scope.querySelectorAll('input[type="hidden"][name="plot"]').forEach((input) => input.remove());
        for (const token of chosen) {
          const input = document.createElement("input");
          input.type = "hidden";
          input.name = "plot";
          input.value = token;
          scope.appendChild(input);
        }
      }
    }

    form.addEventListener("change", (event) => {
      const box = event.target;
      if (!(box instanceof HTMLInputElement) || box.name !== "plot") return;
      if (status) status.textContent = "";
      if (box.checked) {
        if (chosen.length >= data.max) {
          box.checked = false;
          if (status) status.textContent = `At most ${data.max} rows are plotted: untick one first.`;
          return;
        }
        if (!chosen.includes(box.value)) chosen.push(box.value);
      } else {
        chosen = chosen.filter((t) => t !== box.value);
      }
      draw();
      remember();
    });
    window.addEventListener("resize", () => {
      if (plot) plot.setSize({ width: Math.max(320, element.clientWidth), height: 260 });
    });
    draw();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-plot]").forEach(start);
  });
})();
