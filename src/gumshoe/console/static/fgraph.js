// The finding-group graph (Cytoscape.js, vendored in vendor/). <div data-graph="ID"> reads its data
// from the JSON block #ID: {"nodes": [{id, type, label, count, href, investigate, entity}],
// "edges": [{id, source, target, kind, count}]}. Labels are text (Cytoscape draws them on canvas);
// nothing here builds HTML. Choosing a node opens its profile; a user or role shows its panel
// (its profile link and the Investigate form the page already holds for it).
"use strict";

(function findingGraph() {
  const COLORS = {
    finding_type: "#c62828", ec2_instance: "#ef6c00", ip_address: "#1565c0", s3_bucket: "#2e7d32",
    access_key: "#6a1b9a", aws_account: "#546e7a", aws_user: "#00838f", aws_role: "#00695c",
  };
  const SHAPES = { finding_type: "diamond", aws_user: "ellipse", aws_role: "ellipse", ip_address: "round-rectangle" };

  function draw(element) {
    const block = document.getElementById(element.dataset.graph);
    if (!block || typeof cytoscape === "undefined") return;
    const data = JSON.parse(block.textContent);
    const elements = [];
    data.nodes.forEach((n) => {
      // An ARN is shown by its last part (the tables below have it whole).
      const short = n.type !== "finding_type" && n.label.startsWith("arn:") ? n.label.split(/[/:]/).pop() : n.label;
      const text = n.type === "finding_type" && n.count > 1 ? `${short} ×${n.count}` : short;
      elements.push({ group: "nodes", data: { id: n.id, type: n.type, text: text, href: n.href || "",
        investigate: !!n.investigate, size: n.type === "finding_type" ? 28 + 6 * Math.min(n.count, 8) : 26 } });
    });
    data.edges.forEach((e) => {
      elements.push({ group: "edges", data: { id: e.id, source: e.source, target: e.target, kind: e.kind,
        text: e.kind === "involves" && e.count > 1 ? `${e.kind} ×${e.count}` : e.kind.replace("_", " ") } });
    });
    const cy = cytoscape({
      container: element,
      elements: elements,
      wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: {
          "background-color": (node) => COLORS[node.data("type")] || "#455a64",
          shape: (node) => SHAPES[node.data("type")] || "round-rectangle",
          width: "data(size)", height: "data(size)",
          label: "data(text)", "font-size": 11, color: "#1b1f24", "text-valign": "bottom", "text-margin-y": 4,
          "text-wrap": "ellipsis", "text-max-width": 220,
        } },
        { selector: "edge", style: {
          width: 2, "line-color": "#90a4ae", "target-arrow-color": "#90a4ae", "target-arrow-shape": "triangle",
          "curve-style": "bezier", label: "data(text)", "font-size": 9, color: "#57606a",
          "text-rotation": "autorotate", "text-background-color": "#fff", "text-background-opacity": 0.8,
        } },
        { selector: ".nolabels", style: { label: "" } },
        { selector: "node:selected", style: { "border-width": 3, "border-color": "#0b3d91" } },
      ],
      layout: { name: "cose", animate: false, padding: 40, nodeRepulsion: () => 400000, idealEdgeLength: () => 110,
        nodeOverlap: 20, randomize: false },
    });
    element.dataset.drawn = "true";
    window.gumshoeFindingGraph = cy; // for tests and for the curious in the developer console

    const tools = document.querySelector(".fgraph-tools");
    const labels = document.getElementById("fgraph-labels");
    if (tools && labels) {
      tools.hidden = false;
      labels.addEventListener("change", () => {
        if (labels.checked) cy.elements().removeClass("nolabels"); else cy.elements().addClass("nolabels");
      });
    }

    const panel = document.getElementById("fgraph-selected");
    cy.on("tap", "node", (event) => {
      const node = event.target;
      const href = node.data("href");
      if (!node.data("investigate")) {
        if (href) window.location.assign(href);
        return;
      }
      if (!panel) return;
      document.getElementById("fgraph-selected-label").textContent = node.data("text");
      document.getElementById("fgraph-selected-profile").href = href;
      panel.querySelectorAll("[data-node]").forEach((form) => { form.hidden = form.dataset.node !== node.id(); });
      panel.hidden = false;
    });
  }

  function start() {
    document.querySelectorAll("[data-graph]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
