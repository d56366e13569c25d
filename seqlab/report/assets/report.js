(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  const SVG = "http://www.w3.org/2000/svg";
  const runs = D.runs;
  const selected = new Set();
  let sortState = D.sort ? { col: D.sort.col, desc: D.sort.desc } : null;
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const color = (run) => COLORS[run.id % COLORS.length];
  function fmt(v) {
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v) && Math.abs(v) >= 1000) return v.toLocaleString("en-US");
    return String(Number(v.toPrecision(4)));
  }

  // ---- header line -------------------------------------------------------------------------------------------
  let meta = "generated " + D.generated;
  if (D.common.length) meta += " · common overrides: " + D.common.join(" ");
  if (D.images_skipped) meta += " · " + D.images_skipped + " image(s) left out (see the runs' details)";
  $("meta").textContent = meta;

  // ---- table ------------------------------------------------------------------------------------------------
  const thead = document.querySelector("#runs thead");
  const tbody = document.querySelector("#runs tbody");
  const headRow = el("tr");
  headRow.appendChild(el("th", { class: "nosort", title: "draw this run's curves" }, "plot"));
  D.columns.forEach((col, i) => {
    const th = el("th", { "data-col": i, "data-key": col.key, "aria-sort": "none", title: "sort by " + col.key });
    th.appendChild(document.createTextNode(col.key));
    th.appendChild(el("span", { class: "arrow" }, ""));
    th.addEventListener("click", () => sortBy(i));
    headRow.appendChild(th);
  });
  thead.appendChild(headRow);

  const rowOf = new Map();
  for (const run of runs) {
    const tr = el("tr", { "data-run": run.id, class: "row-" + run.status });
    const pick = el("td");
    const box = el("input", { type: "checkbox", class: "pick", "data-run": run.id, title: "plot " + run.label });
    box.style.accentColor = color(run);
    box.addEventListener("change", () => { box.checked ? selected.add(run.id) : selected.delete(run.id); draw(); });
    pick.appendChild(box);
    tr.appendChild(pick);
    run.cells.forEach(([value, text], i) => {
      const col = D.columns[i];
      const td = el("td");
      if (col.kind === "name") {
        td.appendChild(el("span", { class: "swatch", style: "background:" + color(run) }));
        const link = el("a", { href: "#run-" + run.id, class: "run-link" }, text);
        link.addEventListener("click", () => { $("run-" + run.id).open = true; });
        td.appendChild(link);
      } else if (col.kind === "status") {
        td.appendChild(el("span", { class: "status-" + run.status }, text));
      } else {
        td.textContent = text;
        if (typeof value === "number") td.className = "num";
        if (col.kind === "text") { td.className = "text"; td.title = text; }
      }
      tr.appendChild(td);
    });
    run.search = [run.name, run.status, ...run.overrides].join(" ").toLowerCase();
    rowOf.set(run.id, { tr, box });
    tbody.appendChild(tr);
  }

  function missing(value, numeric) {
    return value === null || value === "" || (numeric && typeof value !== "number");
  }
  function sortBy(col) {
    if (sortState && sortState.col === col) sortState.desc = !sortState.desc;
    else sortState = { col, desc: D.columns[col].best === "max" };
    applySort();
  }
  function applySort() {
    const order = runs.slice();
    if (sortState) {
      const i = sortState.col;
      const values = runs.map((r) => r.cells[i][0]);
      const numeric = ["metric", "cost"].includes(D.columns[i].kind) ||
        values.every((v) => v === null || v === "" || typeof v === "number");
      const sign = sortState.desc ? -1 : 1;
      order.sort((a, b) => {
        const va = a.cells[i][0], vb = b.cells[i][0];
        const ma = missing(va, numeric), mb = missing(vb, numeric);
        if (ma || mb) return ma === mb ? a.id - b.id : (ma ? 1 : -1);
        const c = numeric ? va - vb : String(va).localeCompare(String(vb), undefined, { numeric: true });
        return c === 0 ? a.id - b.id : sign * c;
      });
    }
    for (const run of order) tbody.appendChild(rowOf.get(run.id).tr);
    thead.querySelectorAll("th[data-col]").forEach((th) => {
      const on = sortState && Number(th.dataset.col) === sortState.col;
      th.setAttribute("aria-sort", on ? (sortState.desc ? "descending" : "ascending") : "none");
      th.querySelector(".arrow").textContent = on ? (sortState.desc ? "▼" : "▲") : "";
    });
  }

  function applyFilter() {
    const terms = $("filter").value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const run of runs) {
      const visible = terms.every((t) => run.search.includes(t));
      rowOf.get(run.id).tr.hidden = !visible;
      shown += visible ? 1 : 0;
    }
    $("shown").textContent = shown + " of " + runs.length + " runs shown";
  }
  $("filter").addEventListener("input", applyFilter);

  // ---- selection and chart ----------------------------------------------------------------------------------
  const metricSelect = $("metric");
  for (const key of D.curve_metrics) metricSelect.appendChild(el("option", { value: key }, key));
  if (D.curve_metrics.includes(D.curve_metric)) metricSelect.value = D.curve_metric;
  metricSelect.addEventListener("change", draw);
  $("logy").addEventListener("change", draw);

  function tableOrder() {
    return Array.from(tbody.rows).map((tr) => runs[Number(tr.dataset.run)]);
  }
  function select(ids) {
    selected.clear();
    ids.forEach((id) => selected.add(id));
    for (const [id, row] of rowOf) row.box.checked = selected.has(id);
    draw();
  }
  const hasCurve = (run) => (run.curves[metricSelect.value] || []).length > 0;
  const visibleRuns = () => tableOrder().filter((r) => !rowOf.get(r.id).tr.hidden);
  $("select-best").addEventListener("click", () => select(visibleRuns().filter(hasCurve).slice(0, 5).map((r) => r.id)));
  $("select-all").addEventListener("click", () => select(visibleRuns().filter(hasCurve).map((r) => r.id)));
  $("select-none").addEventListener("click", () => select([]));

  function niceStep(range, count) {
    const raw = range / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  }
  function linearTicks(lo, hi, count) {
    const step = niceStep(hi - lo, count);
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
    return ticks;
  }
  function logTicks(lo, hi) {  // lo, hi: log10 of the range
    let ticks = [];
    for (const mults of [[1, 2, 5], [1]]) {
      ticks = [];
      for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
        for (const m of mults) {
          const t = Math.log10(m) + k;
          if (t >= lo - 1e-9 && t <= hi + 1e-9) ticks.push(t);
        }
      }
      if (ticks.length <= 8) break;
    }
    return ticks.length >= 2 ? ticks : linearTicks(Math.pow(10, lo), Math.pow(10, hi), 5).filter((v) => v > 0)
      .map(Math.log10);
  }

  function draw() {
    const chart = $("chart"), legend = $("legend");
    chart.textContent = "";
    legend.textContent = "";
    const metric = metricSelect.value;
    const series = tableOrder().filter((r) => selected.has(r.id) && hasCurve(r));
    if (!series.length) {
      const why = selected.size ? "no " + metric + " logged by the selected runs"
        : "tick runs in the table to draw their curves";
      chart.appendChild(el("div", { class: "empty" }, why));
      return;
    }
    let logy = $("logy").checked;
    const all = series.flatMap((r) => r.curves[metric]);
    if (logy && all.some((p) => p[1] <= 0)) logy = false;
    const fy = logy ? (v) => Math.log10(v) : (v) => v;
    let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...all.map((p) => fy(p[1]))), Math.max(...all.map((p) => fy(p[1])))];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { const d = Math.abs(y0) * 0.05 || 0.5; y0 -= d; y1 += d; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const W = 960, H = 440, L = 70, R = 20, T = 16, B = 46;
    const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
    const sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": metric + " curves" });
    for (const t of linearTicks(x0, x1, 8).filter(Number.isInteger)) {  // steps are whole numbers
      root.appendChild(svg("line", { class: "grid", x1: sx(t), x2: sx(t), y1: T, y2: H - B }));
      root.appendChild(svg("text", { x: sx(t), y: H - B + 16, "text-anchor": "middle" }, fmt(t)));
    }
    for (const t of (logy ? logTicks(y0, y1) : linearTicks(y0, y1, 6))) {
      root.appendChild(svg("line", { class: "grid", x1: L, x2: W - R, y1: sy(t), y2: sy(t) }));
      root.appendChild(svg("text", { x: L - 6, y: sy(t) + 4, "text-anchor": "end" }, fmt(logy ? Math.pow(10, t) : t)));
    }
    root.appendChild(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    root.appendChild(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    root.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle" },
      "training batches (Lightning's logging step)"));
    root.appendChild(svg("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle",
      transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, metric + (logy ? " (log scale)" : "")));
    for (const run of series) {
      const points = run.curves[metric];
      const d = points.map((p, i) => (i ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(fy(p[1])).toFixed(1)).join(" ");
      const path = svg("path", { class: "curve", "data-run": run.id, d, stroke: color(run) });
      path.appendChild(svg("title", {}, run.label));
      root.appendChild(path);
      if (points.length <= 80) {
        for (const p of points) {
          const dot = svg("circle", { class: "pt", "data-run": run.id, cx: sx(p[0]), cy: sy(fy(p[1])), r: 3.5,
            fill: color(run) });
          dot.appendChild(svg("title", {}, run.label + "\nstep " + p[0] + ": " + metric + " " + fmt(p[1])));
          root.appendChild(dot);
        }
      }
      const last = points[points.length - 1];
      const item = el("li", { "data-run": run.id });
      item.appendChild(el("span", { class: "swatch", style: "background:" + color(run) }));
      item.appendChild(document.createTextNode(run.label + " (last " + fmt(last[1]) + " at step " + last[0] + ")"));
      legend.appendChild(item);
    }
    chart.appendChild(root);
  }

  // ---- details (built when opened, so a page of many images opens fast) -------------------------------------
  const details = $("details");
  const sortKey = D.sort ? D.columns[D.sort.col].key : null;
  for (const run of runs) {
    const box = el("details", { class: "run-details", id: "run-" + run.id, "data-run": run.id });
    const summary = el("summary");
    summary.appendChild(el("span", { class: "swatch", style: "background:" + color(run) }));
    summary.appendChild(document.createTextNode(run.name + " · "));
    summary.appendChild(el("span", { class: "status-" + run.status }, run.status));
    let tail = run.label !== run.name ? " · " + run.label : "";
    if (sortKey && run.status === "ok") tail += " · " + sortKey + " " + run.cells[D.sort.col][1];
    summary.appendChild(document.createTextNode(tail));
    box.appendChild(summary);
    box.addEventListener("toggle", () => { if (box.open && !box.dataset.built) fill(box, run); });
    details.appendChild(box);
  }

  function fill(box, run) {
    box.dataset.built = "1";
    const body = el("div", { class: "body" });
    body.appendChild(el("div", {}, run.path));
    if (run.error) body.appendChild(el("p", { class: "error" }, run.error));
    body.appendChild(el("h3", {}, "Overrides (.hydra/overrides.yaml)"));
    body.appendChild(el("pre", {}, run.overrides.join("\n") || "(none)"));
    body.appendChild(el("h3", {}, "results.json"));
    body.appendChild(el("pre", { class: "results" }, run.results || "(no results.json)"));
    if (run.samples.length) {
      body.appendChild(el("h3", {}, "Generated samples"));
      for (const s of run.samples) {
        const fig = el("figure", { class: "sample" });
        const temperature = s.temperature !== null ? ", temperature " + s.temperature : "";
        fig.appendChild(el("figcaption", {}, "step " + s.step + temperature));
        fig.appendChild(el("pre", { class: "sample" }, s.text));
        body.appendChild(fig);
      }
    }
    if (run.images.length) {
      body.appendChild(el("h3", {}, "Images (" + run.images.length + ")"));
      const wrap = el("div", { class: "images" });
      for (const image of run.images) {
        const fig = el("figure");
        if (image.src) {
          const img = el("img", { src: image.src, alt: image.name, loading: "lazy", title: "click: full width" });
          img.addEventListener("click", () => img.classList.toggle("wide"));
          fig.appendChild(img);
        } else fig.appendChild(el("p", { class: "skipped" }, "left out: " + image.skipped));
        fig.appendChild(el("figcaption", {}, image.name));
        wrap.appendChild(fig);
      }
      body.appendChild(wrap);
    }
    box.appendChild(body);
  }

  const opened = /^#run-(\d+)$/.exec(location.hash);
  if (opened && $("run-" + opened[1])) $("run-" + opened[1]).open = true;
  applySort();
  applyFilter();
  select(tableOrder().filter(hasCurve).slice(0, 5).map((r) => r.id));
})();
