// squall live view: renders /events (Server-Sent Events, one JSON state per change).
// Plain DOM and inline SVG; no framework, no CDN.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#4c8bf5", "#e0533d", "#3a9e5f", "#9b59b6", "#e6a23c", "#2bb3c0", "#7f8c8d"];
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);
let drawnGraph = null;

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function num(x, digits = 0) {
  if (x === null || x === undefined) return "–";
  if (typeof x !== "number") return String(x);
  return x.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function table(node, head, rows) {
  node.replaceChildren();
  const tr = el("tr");
  head.forEach((h) => tr.append(el("th", {}, h)));
  node.append(tr);
  for (const row of rows) {
    const r = el("tr");
    for (const cell of row) {
      if (cell instanceof Node) {
        const td = el("td");
        td.append(cell);
        r.append(td);
      } else if (cell && typeof cell === "object" && "text" in cell) {
        r.append(el("td", { class: "text" }, cell.text));
      } else {
        r.append(el("td", {}, cell));
      }
    }
    node.append(r);
  }
}

function capacityCell(c) {
  const span = el("span");
  const bar = el("span", { class: c > 0.8 ? "bar hot" : "bar" });
  bar.style.width = `${Math.round(Math.min(1, c) * 60)}px`;
  span.append(bar, document.createTextNode(num(c, 3)));
  return span;
}

// Layers by longest path from the spouts: Storm's graphs are DAGs.
function layout(graph) {
  const depth = {};
  graph.nodes.forEach((n) => (depth[n.name] = 0));
  for (let i = 0; i < graph.nodes.length; i++) {
    for (const e of graph.edges) depth[e.target] = Math.max(depth[e.target], depth[e.source] + 1);
  }
  const layers = [];
  graph.nodes.forEach((n) => (layers[depth[n.name]] ||= []).push(n.name));
  const pos = {};
  const W = 150, H = 46, GX = 70, GY = 26;
  layers.forEach((names, x) =>
    names.forEach((name, y) => (pos[name] = { x: 20 + x * (W + GX), y: 20 + y * (H + GY), w: W, h: H })),
  );
  const width = 40 + layers.length * (W + GX) - GX;
  const height = 40 + Math.max(...layers.map((l) => l.length)) * (H + GY) - GY;
  return { pos, width, height };
}

function drawGraph(graph, comps) {
  const root = document.getElementById("graph");
  const key = JSON.stringify(graph);
  const { pos, width, height } = layout(graph);
  if (drawnGraph !== key) {
    drawnGraph = key;
    root.replaceChildren();
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    root.setAttribute("width", width);
    root.setAttribute("height", height);
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
    marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa6b6" }));
    defs.append(marker);
    root.append(defs);
    const fan = {};
    for (const e of graph.edges) {
      const a = pos[e.source], b = pos[e.target];
      const k = `${e.source}>${e.target}`;
      const off = (fan[k] = (fan[k] || 0) + 1) - 1;
      const x1 = a.x + a.w, y1 = a.y + a.h / 2 + off * 6, x2 = b.x, y2 = b.y + b.h / 2 + off * 6;
      const mx = (x1 + x2) / 2;
      root.append(svg("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
      // the common case (default stream, shuffle) unlabelled: labels only where they say something
      const parts = [];
      if (e.stream !== "default") parts.push(e.stream);
      if (e.grouping !== "shuffle") parts.push(e.fields.length ? `${e.grouping}(${e.fields.join(",")})` : e.grouping);
      const title = svg("title", {}, `${e.source} → ${e.target}: stream ${e.stream}, ${e.grouping} grouping`);
      root.lastChild.append(title);
      if (parts.length) root.append(svg("text", { class: "edge-label", x: x1 + 6, y: y1 + (y2 - y1) * 0.25 - 3 }, parts.join(" · ")));
    }
    for (const n of graph.nodes) {
      const p = pos[n.name];
      const g = svg("g", { class: `node ${n.kind}`, id: `node-${n.name}` });
      g.append(svg("rect", { x: p.x, y: p.y, width: p.w, height: p.h, rx: 5 }));
      g.append(svg("text", { x: p.x + 8, y: p.y + 16, "font-weight": "bold" }, `${n.name} ×${n.par}`));
      g.append(svg("text", { x: p.x + 8, y: p.y + 32, class: "live" }, ""));
      root.append(g);
    }
  }
  const byName = Object.fromEntries(comps.map((c) => [c.name, c]));
  for (const n of graph.nodes) {
    const c = byName[n.name];
    const live = document.querySelector(`#node-${CSS.escape(n.name)} .live`);
    if (!live || !c) continue;
    live.textContent = n.kind === "spout"
      ? `${num(c.emitted_per_s)}/s emitted`
      : `${num(c.executed_per_s)}/s · cap ${num(c.capacity, 2)}`;
    const rect = document.querySelector(`#node-${CSS.escape(n.name)} rect`);
    rect.setAttribute("stroke-width", c.capacity > 0.8 ? 3 : 1);
    if (c.capacity > 0.8) rect.setAttribute("stroke", "#e0533d");
    else rect.removeAttribute("stroke");
  }
}

function drawChart(container, panel) {
  const W = 720, H = 240, L = 46, R = 12, T = 12, B = 30;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": panel.title });
  const names = Object.keys(panel.series).sort();
  const all = names.flatMap((n) => panel.series[n]);
  container.append(root);
  if (!all.length) {
    root.append(svg("text", { x: L, y: H / 2 }, "no records yet"));
    return;
  }
  const xs = all.map((p) => Number(p[0])), ys = all.map((p) => Number(p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1, y1 = Math.max(1, ...ys);
  const sx = (x) => L + ((x - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - (y / y1) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = (y1 * i) / 4;
    root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: sy(y), y2: sy(y) }));
    root.append(svg("text", { x: 4, y: sy(y) + 4 }, num(y, y1 < 4 ? 1 : 0)));
  }
  root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const epochMs = x0 > 1e11;
  const fmt = (x) => (epochMs ? new Date(x).toLocaleTimeString() : num(x));
  root.append(svg("text", { x: L, y: H - 10 }, fmt(x0)));
  root.append(svg("text", { x: W - R - 70, y: H - 10 }, fmt(x1)));
  const legend = el("p", { class: "legend" });
  names.forEach((name, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = panel.series[name].map((p) => `${sx(Number(p[0]))},${sy(Number(p[1]))}`).join(" ");
    root.append(svg("polyline", { points: pts, fill: "none", stroke: color, "stroke-width": 2 }));
    const last = panel.series[name][panel.series[name].length - 1];
    const swatch = el("i");
    swatch.style.background = color;
    const item = el("span");
    item.append(swatch, document.createTextNode(`${name}: ${num(Number(last[1]))}`));
    legend.append(item);
  });
  container.append(legend);
}

function drawPanels(panels) {
  const root = document.getElementById("panels");
  root.replaceChildren();
  for (const panel of panels) {
    const section = el("section", { class: "panel" });
    section.append(el("h2", {}, `${panel.title} (${num(panel.total)} so far)`));
    if (panel.kind === "chart") {
      section.append(el("p", { class: "note" }, `${panel.y} by ${panel.x}`));
      drawChart(section, panel);
    } else {
      if (panel.hidden.length) {
        section.append(el("p", { class: "note" }, `${panel.hidden.join(", ")} hidden (--ui-show-payloads shows them)`));
      }
      const t = el("table");
      const head = ["component", "task", ...panel.fields];
      const cell = (f, v) => {
        // epoch milliseconds (ts, *_ms) as a time of day
        if ((f === "ts" || f.endsWith("_ms")) && typeof v === "number" && v > 1e11) {
          return new Date(v).toLocaleTimeString(undefined, { hour12: false }) + `.${String(v % 1000).padStart(3, "0")}`;
        }
        return typeof v === "string" ? v : JSON.stringify(v);
      };
      const rows = panel.records.map((r) => [r.component, r.task, ...panel.fields.map((f) => ({ text: cell(f, r[f]) }))]);
      table(t, head, rows);
      section.append(t);
    }
    root.append(section);
  }
}

function render(state) {
  document.getElementById("topology").textContent = state.topology;
  const status = document.getElementById("status");
  const problem = state.cluster && state.cluster.problem;
  status.textContent = state.finished ? "finished: final state" : problem ? problem : "running";
  status.className = state.finished ? "finished" : problem ? "lost" : "running";
  document.title = `${state.topology} · squall${state.finished ? " (finished)" : ""}`;
  const inFlight = state.in_flight === null ? "" : ` · ${num(state.in_flight)} tree(s) in flight`;
  document.getElementById("facts").textContent =
    `${num(state.elapsed_s, 1)} s watched · ${state.workers} worker(s)${inFlight}` +
    (state.summary.ended ? ` · ${state.summary.ended}` : "");
  renderCluster(state);
  drawGraph(state.graph, state.components);
  table(
    document.getElementById("components"),
    ["component", "tasks", "emitted", "emitted/s", "executed", "executed/s", "exec mean ms", "exec max ms", "capacity", "queued", "acked", "failed", "errors"],
    state.components.map((c) => [
      c.name, c.tasks, num(c.emitted), num(c.emitted_per_s), num(c.executed), num(c.executed_per_s),
      num(c.exec_mean_ms, 3), num(c.exec_max_ms, 2), capacityCell(c.capacity), num(c.queued), num(c.acked), num(c.failed), num(c.errors),
    ]),
  );
  document.getElementById("streams-none").hidden = state.streams.length > 0;
  table(
    document.getElementById("streams"),
    state.streams.length ? ["stream", "completed", "p50 ms", "p90 ms", "p99 ms", "max ms", "deadline misses", "miss %", "shed", "precision"] : [],
    state.streams.map((s) => [
      s.stream, num(s.completed), num(s.p50_ms, 3), num(s.p90_ms, 3), num(s.p99_ms, 3), num(s.max_ms, 3),
      num(s.misses), num(100 * s.miss_ratio, 2),
      { text: Object.entries(s.shed).filter(([, n]) => n).map(([p, n]) => `${p} ${n}`).join(", ") || "0" },
      num(s.precision, 3),
    ]),
  );
  drawPanels(state.panels);
  document.getElementById("lag-section").hidden = !state.lag.length;
  table(document.getElementById("lag"), ["component", "task", "topic", "partition", "lag (records)"],
    state.lag.map((l) => [l.component, l.task, l.topic, l.partition, num(l.lag)]));
  const errors = document.getElementById("errors");
  errors.replaceChildren(...state.errors.slice().reverse().map((e) => el("li", {}, `${e.component} (task ${e.task}): ${e.message}`)));
  document.getElementById("errors-none").hidden = state.errors.length > 0;
}

// A topology on a Storm cluster (squall storm view): where it runs and its spouts' latency.
function renderCluster(state) {
  const c = state.cluster;
  document.getElementById("cluster-section").hidden = !c;
  if (!c) return;
  document.getElementById("cluster-facts").textContent = c.id
    ? `Storm topology ${c.id} · ${c.status} · up ${c.uptime} · REST API ${c.api}`
    : `REST API ${c.api}`;
  table(document.getElementById("hosts"), ["worker host", "port", "executors", "components"],
    (c.hosts || []).map((h) => [h.host, h.port, h.executors, { text: h.components.join(", ") }]));
  table(document.getElementById("spouts"), ["spout", "acked", "failed", "complete latency ms"],
    (c.spouts || []).map((s) => [s.name, num(s.acked), num(s.failed), num(s.complete_latency_ms, 3)]));
}

function connect() {
  document.getElementById("metrics-link").href = withToken("/metrics");
  document.getElementById("state-link").href = withToken("/api/state");
  const events = new EventSource(withToken("/events"));
  let last = null;
  events.addEventListener("state", (ev) => {
    last = JSON.parse(ev.data);
    render(last);
  });
  events.onerror = () => {
    if (last && last.finished) events.close(); // the run is over and the view stopped: keep its last state
    const status = document.getElementById("status");
    status.textContent = last && last.finished ? "finished: final state (view stopped)" : "connection lost; retrying…";
    status.className = last && last.finished ? "finished" : "lost";
  };
}

connect();
