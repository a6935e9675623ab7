// pipe ui: draws the pipeline's DAG as SVG, laid out by dependency level, and keeps it live by
// polling /api/state. With an embedded state (pipe graph --format html) it draws once, offline.
(function () {
  "use strict";

  var NODE_W = 262, NODE_H = 98, GAP_X = 30, GAP_Y = 52, PAD = 16, POLL_MS = 1000;
  var svg = document.getElementById("dag");
  var SVG_NS = svg.namespaceURI; // the HTML parser set it: no namespace URL spelled out here
  var embedded = document.getElementById("pipe-state");

  var signature = null;       // the DAG drawn, to redraw only when it changes
  var views = {};             // node name -> its SVG elements
  var edgeViews = [];         // {source, target, path}
  var seen = null;            // history keys already shown (null before the first poll)
  var lastRows = {};          // base table rows at the previous poll
  var lastKpis = {};          // dashboard values at the previous poll
  var lastStamp = {};         // data timestamp of each dynamic table at the previous poll

  // -- small helpers -------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function svgEl(tag, attrs, parent) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function htmlEl(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function fmtNumber(value) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 });
  }

  function isTimestamp(value) {
    return typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value);
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.toLocaleTimeString([], { hour12: false });
  }

  function fmtAgo(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 90) return Math.max(0, Math.round(seconds)) + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }

  function pretty(column) {
    var text = column.toLowerCase().replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function stateClass(node) {
    var state = (node.state || "").toUpperCase();
    if (!node.state && embedded) return "declared";
    if (!node.state || state === "NOT CREATED") return "missing";
    if (state === "FAILED" || state === "UPSTREAM_FAILED") return "failed";
    if (state === "SUSPENDED") return "behind";
    if (node.kind !== "dynamic_table") return node.kind === "external" ? "external" : "table";
    if (node.effective_lag_seconds && node.lag_seconds > node.effective_lag_seconds) return "behind";
    return "active";
  }

  // -- layout: one row per dependency level, each node near the middle of what it reads -------

  function layout(state) {
    var byLevel = [];
    state.nodes.forEach(function (n, i) {
      (byLevel[n.level] = byLevel[n.level] || []).push({ node: n, order: i });
    });
    var widest = Math.max.apply(null, byLevel.map(function (row) { return row.length; }));
    var width = widest * NODE_W + (widest - 1) * GAP_X + 2 * PAD;
    var pos = {};
    byLevel.forEach(function (row, level) {
      row.forEach(function (item) {
        var parents = item.node.reads.filter(function (r) { return pos[r]; });
        item.want = parents.length
          ? parents.reduce(function (s, r) { return s + pos[r].cx; }, 0) / parents.length
          : null;
      });
      if (row.every(function (item) { return item.want === null; })) {
        var start = (width - (row.length * NODE_W + (row.length - 1) * GAP_X)) / 2 + NODE_W / 2;
        row.forEach(function (item, i) { item.want = start + i * (NODE_W + GAP_X); });
      }
      row.forEach(function (item) { if (item.want === null) item.want = width / 2; });
      row.sort(function (a, b) { return a.want - b.want || a.order - b.order; });
      var step = NODE_W + GAP_X, lo = PAD + NODE_W / 2, hi = width - PAD - NODE_W / 2;
      for (var i = 0; i < row.length; i++) {  // push right to avoid overlaps …
        row[i].cx = Math.max(row[i].want, i ? row[i - 1].cx + step : lo);
      }
      for (var j = row.length - 1; j >= 0; j--) {  // … then back left to stay inside
        row[j].cx = Math.min(row[j].cx, j < row.length - 1 ? row[j + 1].cx - step : hi);
      }
      row.forEach(function (item) {
        pos[item.node.name] = { cx: item.cx, x: item.cx - NODE_W / 2, y: PAD + level * (NODE_H + GAP_Y) };
      });
    });
    return { pos: pos, width: width, height: 2 * PAD + byLevel.length * NODE_H + (byLevel.length - 1) * GAP_Y };
  }

  // -- drawing ---------------------------------------------------------------------------------

  function draw(state) {
    var plan = layout(state);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + plan.width + " " + plan.height);
    svg.style.maxWidth = plan.width + "px";
    var defs = svgEl("defs", {}, svg);
    var marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
    svgEl("path", { d: "M 0 0 L 10 5 L 0 10 z", "class": "arrow-head" }, marker);

    var edgesLayer = svgEl("g", { "class": "edges" }, svg);
    var nodesLayer = svgEl("g", { "class": "nodes" }, svg);
    edgeViews = [];
    state.edges.forEach(function (e) {
      var path = svgEl("path", { "class": "edge", "data-edge": e.source + "->" + e.target,
        "data-source": e.source, "data-target": e.target, "marker-end": "url(#arrow)",
        d: edgePath(state, plan.pos, e) }, edgesLayer);
      svgEl("title", {}, path).textContent = e.target + " reads " + e.source;
      edgeViews.push({ source: e.source, target: e.target, path: path });
    });
    views = {};
    state.nodes.forEach(function (n) { views[n.name] = drawNode(nodesLayer, n, plan.pos[n.name]); });
  }

  // Spread the ends of several edges meeting at one node so that each stays visible.
  function edgePath(state, pos, e) {
    function spread(name, others, key) {
      var list = others.slice().sort(function (a, b) { return pos[a].cx - pos[b].cx; });
      if (list.length < 2) return pos[name].cx;
      var width = Math.min(NODE_W * 0.6, 40 * (list.length - 1));
      return pos[name].cx - width / 2 + list.indexOf(key) * width / (list.length - 1);
    }
    var ins = state.edges.filter(function (x) { return x.target === e.target; }).map(function (x) { return x.source; });
    var outs = state.edges.filter(function (x) { return x.source === e.source; }).map(function (x) { return x.target; });
    var sx = spread(e.source, outs, e.target), sy = pos[e.source].y + NODE_H;
    var tx = spread(e.target, ins, e.source), ty = pos[e.target].y - 2;
    var start = "M " + sx + " " + sy;
    // An edge skipping levels drops straight down past them when that lane is free of nodes.
    var drop = ty - GAP_Y + 2;
    var free = Object.keys(pos).every(function (name) {
      var p = pos[name];
      return p.y + NODE_H <= sy || p.y >= drop || sx < p.x - 8 || sx > p.x + NODE_W + 8;
    });
    if (drop > sy + 1 && free) { start += " L " + sx + " " + drop; sy = drop; }
    var dy = Math.max(24, (ty - sy) / 2);
    return start + " C " + sx + " " + (sy + dy) + ", " + tx + " " + (ty - dy) + ", " + tx + " " + ty;
  }

  function drawNode(layer, n, p) {
    var dynamic = n.kind === "dynamic_table";
    var g = svgEl("g", { "class": "node " + (dynamic ? "dynamic" : "base"), "data-node": n.name,
      "data-kind": n.kind, transform: "translate(" + p.x + "," + p.y + ")" }, layer);
    var tip = svgEl("title", {}, g);
    svgEl("rect", { "class": "card", width: NODE_W, height: NODE_H, rx: 10, ry: 10 }, g);
    svgEl("rect", { "class": "accent", x: 0, y: 0, width: 6, height: NODE_H, rx: 3, ry: 3 }, g);
    var name = svgEl("text", { "class": "name", x: 16, y: 22 }, g);
    name.textContent = n.name;
    var badge = svgEl("text", { "class": "badge", x: NODE_W - 12, y: 21, "text-anchor": "end" }, g);
    badge.textContent = dynamic ? "DT" : (n.kind === "external" ? "EXT" : "TABLE");
    var lines = [];
    for (var i = 0; i < 4; i++) lines.push(svgEl("text", { "class": "line", x: 16, y: 41 + i * 16 }, g));
    var state = svgEl("text", { "class": "state", x: NODE_W - 12, y: 41 + 16 * 1, "text-anchor": "end" }, g);
    fit(name, NODE_W - 56);
    return { g: g, tip: tip, lines: lines, state: state, node: n };
  }

  // Make an SVG text fit ``width``: squeeze it a little (names), or cut it with an ellipsis.
  function fit(text, width, cut) {
    try {
      text.removeAttribute("textLength");
      if (text.getComputedTextLength() <= width) return;
      if (!cut) {
        text.setAttribute("textLength", width);
        text.setAttribute("lengthAdjust", "spacingAndGlyphs");
        return;
      }
      var full = text.textContent;
      for (var n = full.length - 1; n > 0 && text.getComputedTextLength() > width; n--) {
        text.textContent = full.slice(0, n).replace(/[\s,·]+$/, "") + "…";
      }
    } catch (err) { /* not rendered (hidden): leave it */ }
  }

  function updateNode(view, n) {
    var dynamic = n.kind === "dynamic_table";
    var cls = stateClass(n);
    view.g.setAttribute("class", "node " + (dynamic ? "dynamic" : "base") + " state-" + cls);
    var text;
    if (dynamic) {
      text = [
        "lag " + (n.target_lag || "—") + " · " + (n.refresh_mode || "—"),
        "rows " + fmtNumber(n.rows),
        n.data_timestamp ? "data " + fmtTime(n.data_timestamp) + " · " + fmtAgo(n.lag_seconds) : "no data timestamp yet",
        "last refresh " + (n.last_refresh_action || "—"),
      ];
      if (embedded) text = ["target lag " + (n.target_lag || "—"), "refresh mode " + (n.refresh_mode || "—"),
        "reads " + n.reads.join(", "), n.comment || ""];
    } else {
      text = [n.kind === "external" ? "external table" : "base table", "rows " + fmtNumber(n.rows), n.comment || "", ""];
      if (embedded) text = [text[0], n.comment || "", "", ""];
    }
    text.forEach(function (t, i) {
      if (view.lines[i].getAttribute("data-full") === t) return;  // unchanged: keep the cut version
      view.lines[i].setAttribute("data-full", t);
      view.lines[i].textContent = t;
      fit(view.lines[i], NODE_W - (i === 1 ? 80 : 28), true);
    });
    view.state.textContent = embedded ? "" : (n.state || "");
    var tip = [n.name + " (" + n.kind.replace("_", " ") + ")"];
    if (n.comment) tip.push(n.comment);
    if (n.refresh_mode) tip.push("refresh mode " + n.refresh_mode + (n.refresh_mode_reason ? ": " + n.refresh_mode_reason : ""));
    if (n.reads.length) tip.push("reads " + n.reads.join(", "));
    view.tip.textContent = tip.join("\n");
  }

  function pulse(name, quiet) {
    var view = views[name];
    if (!view) return;
    var cls = quiet ? "pulse-quiet" : "pulse";
    view.g.classList.remove("pulse", "pulse-quiet");
    void view.g.getBoundingClientRect(); // restart the animation
    view.g.classList.add(cls);
    setTimeout(function () { view.g.classList.remove(cls); }, 1800);
    if (quiet) return;
    edgeViews.forEach(function (e) {
      if (e.target !== name) return;
      e.path.classList.add("flow");
      setTimeout(function () { e.path.classList.remove("flow"); }, 1800);
    });
  }

  // -- the live panels -------------------------------------------------------------------------

  function historyKey(r) { return [r.NAME, r.REFRESH_START_TIME, r.REFRESH_TRIGGER, r.DATA_TIMESTAMP].join("|"); }

  function renderHistory(rows) {
    var body = $("history").tBodies[0];
    var fresh = [];
    var keys = rows.map(historyKey);
    if (body.getAttribute("data-keys") !== keys.join("\n")) {
      while (body.firstChild) body.removeChild(body.firstChild);
      rows.forEach(function (r, i) {
        var isNew = seen !== null && !seen.has(keys[i]);
        if (isNew) fresh.push(r);
        var tr = htmlEl("tr", { "data-key": keys[i], "data-name": r.NAME, "data-action": r.REFRESH_ACTION || "",
          "data-state": r.STATE, "class": isNew ? "new" : "" });
        var stats = r.STATISTICS || {};
        var ms = r.REFRESH_START_TIME && r.REFRESH_END_TIME
          ? Math.round(new Date(r.REFRESH_END_TIME) - new Date(r.REFRESH_START_TIME)) : null;
        [fmtTime(r.REFRESH_START_TIME), r.NAME, null, r.REFRESH_ACTION || "", r.REFRESH_TRIGGER,
          fmtTime(r.DATA_TIMESTAMP), ms === null ? "" : fmtNumber(ms), fmtNumber(stats.numInsertedRows),
          fmtNumber(stats.numDeletedRows), r.STATE_MESSAGE || ""].forEach(function (value, c) {
          var td = htmlEl("td", { "class": c >= 6 && c <= 8 ? "num" : "" });
          if (c === 2) td.appendChild(htmlEl("span", { "class": "pill " + r.STATE.toLowerCase() }, r.STATE));
          else td.textContent = value;
          if (c === 9 && value) td.title = value;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      if (!rows.length) {
        var empty = htmlEl("tr", { "class": "empty" });
        empty.appendChild(htmlEl("td", { colspan: "10" }, "no refreshes yet"));
        body.appendChild(empty);
      }
      body.setAttribute("data-keys", keys.join("\n"));
    }
    seen = new Set(keys);
    return fresh;
  }

  function renderDashboard(boards) {
    var root = $("dashboard");
    $("dashboard-title").textContent = boards.length ? boards.map(function (b) { return b.name; }).join(", ") : "Dashboard";
    $("dashboard-note").textContent = boards.length ? "the dynamic table nothing reads" : "";
    var signature = JSON.stringify(boards.map(function (b) { return [b.name, b.columns, b.rows.length]; }));
    if (root.getAttribute("data-shape") !== signature) {
      while (root.firstChild) root.removeChild(root.firstChild);
      root.setAttribute("data-shape", signature);
      if (!boards.length) root.appendChild(htmlEl("p", { "class": "note" }, "No small sink table yet (apply the pipeline first)."));
      boards.forEach(function (b) {
        var grid = htmlEl("div", { "class": b.rows.length === 1 ? "kpis" : "kpi-table", "data-board": b.name });
        root.appendChild(grid);
        if (b.rows.length !== 1) return;
        b.columns.forEach(function (c) {
          var tile = htmlEl("div", { "class": "kpi", "data-kpi": c });
          tile.appendChild(htmlEl("div", { "class": "kpi-label" }, pretty(c)));
          tile.appendChild(htmlEl("div", { "class": "kpi-value" }));
          tile.appendChild(htmlEl("div", { "class": "kpi-delta" }));
          grid.appendChild(tile);
        });
      });
    }
    boards.forEach(function (b) {
      var grid = root.querySelector('[data-board="' + b.name + '"]');
      if (b.rows.length !== 1) return renderRows(grid, b);
      b.columns.forEach(function (c, i) {
        var tile = grid.querySelector('[data-kpi="' + c + '"]');
        var value = b.rows[0][i], key = b.name + "." + c, before = lastKpis[key];
        var text = JSON.stringify(value);
        if (before !== undefined && before.text === text) return;
        fillValue(tile.querySelector(".kpi-value"), value);
        var delta = tile.querySelector(".kpi-delta");
        if (before !== undefined && typeof value === "number" && typeof before.value === "number" && value !== before.value) {
          var d = value - before.value;
          delta.textContent = (d > 0 ? "▲ " : "▼ ") + fmtNumber(Math.abs(d));
          delta.className = "kpi-delta " + (d > 0 ? "up" : "down");
        }
        if (before !== undefined) {
          tile.classList.remove("changed");
          void tile.offsetWidth;
          tile.classList.add("changed");
        }
        lastKpis[key] = { text: text, value: value };
      });
    });
  }

  function fillValue(box, value) {
    while (box.firstChild) box.removeChild(box.firstChild);
    box.classList.remove("small");
    if (value && typeof value === "object" && !Array.isArray(value)) {
      var entries = Object.keys(value).map(function (k) { return [k, value[k]]; });
      var numeric = entries.every(function (e) { return typeof e[1] === "number"; });
      if (numeric) {
        var max = Math.max.apply(null, entries.map(function (e) { return e[1]; }).concat([1]));
        entries.sort(function (a, b) { return b[1] - a[1]; });
        var bars = htmlEl("div", { "class": "bars" });
        entries.forEach(function (e) {
          var row = htmlEl("div", { "class": "bar-row" });
          row.appendChild(htmlEl("span", { "class": "bar-key" }, e[0]));
          var track = htmlEl("span", { "class": "bar-track" });
          var bar = htmlEl("span", { "class": "bar" });
          bar.style.width = (100 * e[1] / max).toFixed(1) + "%";
          track.appendChild(bar);
          row.appendChild(track);
          row.appendChild(htmlEl("span", { "class": "bar-value" }, fmtNumber(e[1])));
          bars.appendChild(row);
        });
        box.appendChild(bars);
        return;
      }
      box.classList.add("small");
      box.textContent = JSON.stringify(value);
      return;
    }
    if (Array.isArray(value)) { box.classList.add("small"); box.textContent = value.join(", "); return; }
    if (typeof value === "number") { box.textContent = fmtNumber(value); return; }
    if (isTimestamp(value)) { box.classList.add("small"); box.textContent = fmtTime(value); return; }
    box.textContent = value === null ? "—" : String(value);
  }

  function renderRows(grid, b) {
    while (grid.firstChild) grid.removeChild(grid.firstChild);
    var table = htmlEl("table");
    var head = htmlEl("tr");
    b.columns.forEach(function (c) { head.appendChild(htmlEl("th", {}, c)); });
    table.appendChild(head);
    b.rows.forEach(function (r) {
      var tr = htmlEl("tr");
      r.forEach(function (v) {
        tr.appendChild(htmlEl("td", {}, isTimestamp(v) ? fmtTime(v) : (v && typeof v === "object" ? JSON.stringify(v) : v)));
      });
      table.appendChild(tr);
    });
    grid.appendChild(table);
  }

  function renderStream(stream) {
    var button = $("stream-button"), stop = $("stop-button");
    if (!stream || !stream.available) {
      button.disabled = true;
      button.title = "the pipeline file has no stream: block";
      $("stream-status").textContent = "";
      return;
    }
    var records = $("records");
    if (!records.value && stream.records) records.placeholder = String(stream.records);
    button.disabled = !!stream.running;
    stop.hidden = !stream.running;
    var status = $("stream-status");
    status.textContent = stream.message || ("streams go into " + stream.table);
    status.className = "stream-status" + (stream.running ? " running" : "");
  }

  function showError(message) {
    var box = $("error");
    box.hidden = !message;
    box.textContent = message || "";
  }

  // -- one poll ------------------------------------------------------------------------------

  function apply(state) {
    var sig = JSON.stringify([state.nodes.map(function (n) { return [n.name, n.level]; }), state.edges]);
    if (sig !== signature) { draw(state); signature = sig; }
    var first = seen === null;
    state.nodes.forEach(function (n) { updateNode(views[n.name], n); });
    $("pipeline-name").textContent = state.pipeline.name;
    $("pipeline-where").textContent = state.pipeline.database + "." + state.pipeline.schema +
      (state.target ? " · target " + state.target : "");
    $("pipeline-description").textContent = state.pipeline.description || "";
    document.title = "pipe · " + state.pipeline.name;
    if (embedded) return;

    // A batch lands in a base table first, then the refreshes cascade in the order they ran.
    state.nodes.forEach(function (n) {
      if (n.kind !== "dynamic_table") {
        if (!first && lastRows[n.name] !== undefined && n.rows !== lastRows[n.name]) pulse(n.name);
        lastRows[n.name] = n.rows;
      }
    });
    var fresh = renderHistory(state.history || []);
    fresh.sort(function (a, b) { return (a.REFRESH_START_TIME || "").localeCompare(b.REFRESH_START_TIME || ""); });
    fresh.forEach(function (r, i) {
      setTimeout(function () { pulse(r.NAME, r.REFRESH_ACTION === "NO_DATA" || r.STATE !== "SUCCEEDED"); }, 250 + i * 220);
    });
    state.nodes.forEach(function (n) {  // refreshed but beyond the history shown: pulse anyway
      if (n.kind !== "dynamic_table") return;
      if (!first && lastStamp[n.name] !== n.data_timestamp && !fresh.some(function (r) { return r.NAME === n.name; })) pulse(n.name);
      lastStamp[n.name] = n.data_timestamp;
    });
    renderDashboard(state.dashboard || []);
    renderStream(state.stream);
    var stream = state.stream || {};
    showError(state.error || stream.error || null);
    var live = $("live");
    live.textContent = "live · " + fmtTime(state.generated_at);
    live.className = "live on";
  }

  function poll() {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, 10000) : null;
    fetch("/api/state", { cache: "no-store", signal: controller ? controller.signal : undefined })
      .then(function (r) { return r.json(); })
      .then(function (state) { apply(state); })
      .catch(function () {
        var live = $("live");
        live.textContent = "disconnected, retrying…";
        live.className = "live off";
      })
      .then(function () { clearTimeout(timer); setTimeout(poll, POLL_MS); });
  }

  function post(path, body) {
    return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) })
      .then(function (r) { return r.json().then(function (data) { if (!r.ok) showError(data.error || r.statusText); return data; }); })
      .catch(function (err) { showError("request failed: " + err); });
  }

  function wire() {
    var batches = $("batches"), button = $("stream-button");
    function label() {
      var n = parseInt(batches.value, 10) || 1;
      button.textContent = n === 1 ? "Stream a batch" : "Stream " + n + " batches";
    }
    batches.addEventListener("input", label);
    label();
    button.addEventListener("click", function () {
      button.disabled = true;
      var body = { batches: parseInt(batches.value, 10) || 1 };
      if ($("records").value) body.records = parseInt($("records").value, 10);
      post("/api/stream", body);
    });
    $("stop-button").addEventListener("click", function () { post("/api/stream/stop"); });
    $("refresh-button").addEventListener("click", function () { post("/api/refresh"); });
  }

  if (embedded) {
    document.body.classList.add("static");
    $("footer").textContent = "The DAG as declared in the pipeline file, drawn by pipe graph --format html. " +
      "Run pipe ui for live row counts, refreshes and the dashboard.";
    apply(JSON.parse(embedded.textContent));
  } else {
    wire();
    poll();
  }
})();
