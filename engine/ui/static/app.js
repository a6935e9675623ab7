// pipe ui: keeps the page live by polling /api/state — the DAG (dag.js), the sinks, the refresh
// history and the side panel of the table clicked. With an embedded state (pipe graph --format
// html) it draws the declared DAG once, offline, and the side panel shows what the file declares.
(function () {
  "use strict";

  var POLL_MS = 1000;
  var embedded = document.getElementById("pipe-state");
  var dag = new window.PipeDag(document.getElementById("dag"), { onSelect: select, staticPage: !!embedded });

  var last = null;            // the latest state
  var seen = null;            // history keys already shown (null before the first poll)
  var lastRows = {};          // base table rows at the previous poll
  var lastKpis = {};          // sink values at the previous poll
  var lastStamp = {};         // data timestamp of each dynamic table at the previous poll
  var opened = null;          // the node whose side panel is open
  var openedJson = null;      // what the side panel shows, to redraw only on change

  // -- small helpers -------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function fmtNumber(value) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 });
  }

  function isTimestamp(value) { return typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value); }

  function fmtTime(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
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

  function plural(n, one, many) { return n === 1 ? one : many; }

  function rowCount(rows) {
    if (rows === null || rows === undefined) return "—";
    return fmtNumber(rows) + plural(rows, " row", " rows");
  }

  function changes(inserted, deleted) {
    if (inserted === null || inserted === undefined) return "";
    return "+" + fmtNumber(inserted) + " −" + fmtNumber(deleted || 0);
  }

  function stateClass(node) {
    var state = (node.state || "").toUpperCase();
    if (!node.state && embedded) return "declared";
    if (!node.state || state === "NOT CREATED") return "missing";
    if (state === "FAILED" || state === "UPSTREAM_FAILED") return "failed";
    if (state === "SUSPENDED") return "behind";
    // A check whose latest result failed: red for an error check, amber for a warning.
    var failing = node.failed_checks || [];
    if (failing.some(function (c) { return c.severity === "error"; })) return "check-failed";
    if (failing.length) return "check-warned";
    if (node.kind !== "dynamic_table") return node.kind === "external" ? "external" : "table";
    if (node.last_refresh && node.last_refresh.state === "FAILED") return "failed";
    if (node.effective_lag_seconds && node.lag_seconds > node.effective_lag_seconds) return "behind";
    return "active";
  }

  // -- the DAG's text --------------------------------------------------------------------------

  // What a node says: for a dynamic table, the action its last refresh ran (not the mode predicted)
  // and the rows it inserted and deleted, kept until the next refresh.
  function nodeLines(n) {
    if (n.kind !== "dynamic_table") {
      var what = n.kind === "external" ? "external table" : "base table";
      if (embedded) return [what, n.comment || ""];
      return [n.rows === null || n.rows === undefined ? "" : rowCount(n.rows), what];  // the state says NOT CREATED
    }
    if (embedded) {
      return ["lag " + (n.target_lag || "—"), "mode " + (n.refresh_mode || "—") + " (predicted)", "reads " + n.reads.join(", ")];
    }
    var r = n.last_refresh;
    var ran = r ? (r.action || r.state) + " " + changes(r.inserted, r.deleted) : "no refresh yet";
    var missing = !n.state || n.state === "NOT CREATED";
    return [
      ran,
      (n.rows === null || n.rows === undefined ? "" : rowCount(n.rows) + " · ") + "lag " + (n.target_lag || "—"),
      n.data_timestamp ? "data " + fmtTime(n.data_timestamp) + " · " + fmtAgo(n.lag_seconds) : (missing ? "" : "no data timestamp yet"),
    ];
  }

  function checkNames(failed) {
    return failed.map(function (c) { return c.name + (c.severity === "error" ? "" : " (warn)"); }).join(", ");
  }

  function nodeTip(n) {
    var tip = [n.name + " (" + n.kind.replace("_", " ") + ")"];
    if (n.comment) tip.push(n.comment);
    if (n.last_refresh) tip.push("last refresh " + (n.last_refresh.action || "") + " " + n.last_refresh.state +
      (n.last_refresh.message ? ": " + n.last_refresh.message : ""));
    if (n.failed_checks && n.failed_checks.length) tip.push("failing checks: " + checkNames(n.failed_checks));
    if (n.refresh_mode) tip.push("refresh mode " + n.refresh_mode + (n.refresh_mode_reason ? ": " + n.refresh_mode_reason : ""));
    if (n.reads.length) tip.push("reads " + n.reads.join(", "));
    tip.push("click for its SQL, columns and refreshes");
    return tip.join("\n");
  }

  function drawNodes(state) {
    state.nodes.forEach(function (n) {
      var stateText = embedded ? "" : (n.state || "");
      dag.update(n.name, nodeLines(n), stateText, stateClass(n), nodeTip(n));
    });
  }

  // -- the refresh history -----------------------------------------------------------------------

  function historyKey(r) { return [r.NAME, r.REFRESH_START_TIME, r.REFRESH_TRIGGER, r.DATA_TIMESTAMP].join("|"); }

  function historyRow(r, key, isNew) {
    var tr = el("tr", { "data-key": key, "data-name": r.NAME, "data-action": r.REFRESH_ACTION || "",
      "data-state": r.STATE, "class": isNew ? "new" : "" });
    var stats = r.STATISTICS || {};
    var ms = r.REFRESH_START_TIME && r.REFRESH_END_TIME
      ? Math.round(new Date(r.REFRESH_END_TIME) - new Date(r.REFRESH_START_TIME)) : null;
    tr.appendChild(el("td", {}, fmtTime(r.REFRESH_START_TIME)));
    var name = el("td", { "class": "name", title: r.NAME });
    name.appendChild(el("a", { href: "#", "data-open": r.NAME }, r.NAME));
    tr.appendChild(name);
    var state = el("td"), ok = r.STATE === "SUCCEEDED";
    // The action that ran, coloured by how it ended; the state itself when it did not succeed.
    state.appendChild(el("span", { "class": "pill " + r.STATE.toLowerCase(), title: r.STATE }, ok ? (r.REFRESH_ACTION || r.STATE) : r.STATE));
    tr.appendChild(state);
    tr.appendChild(el("td", {}, r.REFRESH_TRIGGER));
    tr.appendChild(el("td", { "class": "num" }, changes(stats.numInsertedRows, stats.numDeletedRows)));
    tr.title = r.NAME + ": " + r.STATE + (ms === null ? "" : " in " + fmtNumber(ms) + " ms") +
      (r.STATE_MESSAGE ? " · " + r.STATE_MESSAGE : "");
    return tr;
  }

  function renderHistory(rows) {
    var body = $("history").tBodies[0];
    var fresh = [], keys = rows.map(historyKey);
    if (body.getAttribute("data-keys") !== keys.join("\n")) {
      clear(body);
      rows.forEach(function (r, i) {
        var isNew = seen !== null && !seen.has(keys[i]);
        if (isNew) fresh.push(r);
        body.appendChild(historyRow(r, keys[i], isNew));
      });
      if (!rows.length) {
        var empty = el("tr", { "class": "empty" });
        empty.appendChild(el("td", { colspan: "5" }, "no refreshes yet"));
        body.appendChild(empty);
      }
      body.setAttribute("data-keys", keys.join("\n"));
    }
    seen = new Set(keys);
    return fresh;
  }

  // -- the sinks: dynamic tables nothing reads -------------------------------------------------

  function sinkNames(state) {
    var read = {};
    state.edges.forEach(function (e) { read[e.source] = true; });
    return state.nodes.filter(function (n) { return n.kind === "dynamic_table" && !read[n.name]; })
      .map(function (n) { return n.name; });
  }

  function sinksMessage(state, boards) {
    var sinks = sinkNames(state);
    var created = state.nodes.filter(function (n) { return n.kind === "dynamic_table" && n.state && n.state !== "NOT CREATED"; });
    if (!sinks.length) return "This pipeline has no dynamic table that nothing reads.";
    if (!created.length) return "No dynamic table exists on this target yet: run pipe apply on the pipeline file.";
    var shown = boards.map(function (b) { return b.name; });
    var rest = sinks.filter(function (s) { return shown.indexOf(s) < 0; });
    if (!rest.length) return "";
    return rest.join(", ") + (rest.length === 1 ? " has" : " have") +
      " no rows or more than 5: query " + plural(rest.length, "it", "them") + " with pipe query, or open " +
      plural(rest.length, "it", "them") + " from the DAG.";
  }

  function renderSinks(state) {
    var boards = state.dashboard || [], root = $("dashboard");
    var sinks = sinkNames(state);
    $("sinks-title").textContent = sinks.length === 1 ? sinks[0] : "Sinks";
    $("sinks-note").textContent = sinks.length === 1 ? "the dynamic table nothing reads"
      : sinks.length + " dynamic tables nothing reads";
    var message = sinksMessage(state, boards);
    var shape = JSON.stringify([message, boards.map(function (b) { return [b.name, b.columns, b.rows.length]; })]);
    if (root.getAttribute("data-shape") !== shape) {
      clear(root).setAttribute("data-shape", shape);
      if (message) root.appendChild(el("p", { "class": "note sinks-message" }, message));
      boards.forEach(function (b) {
        if (boards.length > 1) root.appendChild(el("h3", {}, b.name));
        var grid = el("div", { "class": b.rows.length === 1 ? "kpis" : "kpi-table", "data-board": b.name });
        root.appendChild(grid);
        if (b.rows.length !== 1) return;
        b.columns.forEach(function (c) {
          var tile = el("div", { "class": "kpi", "data-kpi": c });
          tile.appendChild(el("div", { "class": "kpi-label" }, pretty(c)));
          tile.appendChild(el("div", { "class": "kpi-value" }));
          tile.appendChild(el("div", { "class": "kpi-delta" }));
          grid.appendChild(tile);
        });
      });
    }
    boards.forEach(function (b) {
      var grid = root.querySelector('[data-board="' + CSS.escape(b.name) + '"]');
      if (b.rows.length !== 1) return renderRows(grid, b);
      b.columns.forEach(function (c, i) { updateKpi(grid.querySelector('[data-kpi="' + CSS.escape(c) + '"]'), b.name + "." + c, b.rows[0][i]); });
    });
  }

  function updateKpi(tile, key, value) {
    var before = lastKpis[key], text = JSON.stringify(value);
    if (before !== undefined && before.text === text) return;
    window.PipeValues.fill(tile.querySelector(".kpi-value"), value);
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
  }

  function renderRows(grid, b) {
    clear(grid);
    var table = el("table"), head = el("tr");
    b.columns.forEach(function (c) { head.appendChild(el("th", {}, c)); });
    table.appendChild(head);
    b.rows.forEach(function (r) {
      var tr = el("tr");
      r.forEach(function (v) {
        tr.appendChild(el("td", {}, isTimestamp(v) ? fmtTime(v) : (v && typeof v === "object" ? JSON.stringify(v) : v)));
      });
      table.appendChild(tr);
    });
    grid.appendChild(table);
  }

  // -- the stream controls -------------------------------------------------------------------------

  function renderStream(stream) {
    var button = $("stream-button"), stop = $("stop-button"), status = $("stream-status");
    if (!stream || !stream.available) {
      button.disabled = true;
      button.title = "the pipeline file declares no stream";
      status.textContent = "no stream: declared in this file";
      return;
    }
    var records = $("records");
    if (!records.value && stream.records) records.placeholder = String(stream.records);
    button.disabled = !!stream.running;
    stop.hidden = !stream.running;
    status.textContent = stream.message || ("streams go into " + stream.table);
    status.className = "stream-status" + (stream.running ? " running" : "");
  }

  function showError(message) {
    var box = $("error");
    box.hidden = !message;
    box.textContent = message || "";
  }

  // -- the side panel of one node ----------------------------------------------------------------

  function select(name) {
    if (!name) return closePanel();
    opened = name;
    openedJson = null;
    $("node-panel").hidden = false;
    document.body.classList.add("node-open");  // offline, this narrows the DAG: reveal after it
    dag.focus(name);
    dag.reveal(name);
    loadPanel();
  }

  function closePanel() {
    opened = null;
    openedJson = null;
    dag.focus(null);
    $("node-panel").hidden = true;
    document.body.classList.remove("node-open");
  }

  function loadPanel() {
    var name = opened;
    if (!name) return;
    if (embedded) return showPanel(last.details[name]);
    fetch("/api/node?name=" + encodeURIComponent(name), { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (detail) { if (opened === name && !detail.error) showPanel(detail); })
      .catch(function () { /* the next poll tries again */ });
  }

  function showPanel(detail) {
    var node = (last.nodes || []).filter(function (n) { return n.name === detail.name; })[0] || {};
    var text = JSON.stringify([detail, node.checks, node.failed_checks]);  // checks may change alone
    if (text === openedJson) return;
    openedJson = text;
    window.PipePanel.render($("node-body"), detail, node, { embedded: !!embedded, open: select });
    $("node-title").textContent = detail.name;
    $("node-kind").textContent = detail.kind.replace("_", " ") + (node.state ? " · " + node.state : "");
  }

  // -- one poll ------------------------------------------------------------------------------

  function apply(state) {
    last = state;
    dag.draw(state);
    drawNodes(state);
    $("pipeline-name").textContent = state.pipeline.name;
    $("pipeline-where").textContent = state.pipeline.database + "." + state.pipeline.schema +
      (state.target ? " · target " + state.target : "");
    $("pipeline-description").textContent = state.pipeline.description || "";
    $("pipeline-description").title = state.pipeline.description || "";
    document.title = "pipe · " + state.pipeline.name;
    if (embedded) return;

    var first = seen === null;
    state.nodes.forEach(function (n) {  // a batch lands in a base table first …
      if (n.kind !== "dynamic_table") {
        if (!first && lastRows[n.name] !== undefined && n.rows !== lastRows[n.name]) dag.pulse(n.name);
        lastRows[n.name] = n.rows;
      }
    });
    var fresh = renderHistory(state.history || []);  // … then the refreshes cascade in the order they ran
    fresh.sort(function (a, b) { return (a.REFRESH_START_TIME || "").localeCompare(b.REFRESH_START_TIME || ""); });
    fresh.forEach(function (r, i) {
      setTimeout(function () { dag.pulse(r.NAME, r.REFRESH_ACTION === "NO_DATA" || r.STATE !== "SUCCEEDED"); }, 250 + i * 220);
    });
    state.nodes.forEach(function (n) {  // refreshed but beyond the history shown: pulse anyway
      if (n.kind !== "dynamic_table") return;
      if (!first && lastStamp[n.name] !== n.data_timestamp && !fresh.some(function (r) { return r.NAME === n.name; })) dag.pulse(n.name);
      lastStamp[n.name] = n.data_timestamp;
    });
    renderSinks(state);
    renderStream(state.stream);
    showError(state.error || (state.stream || {}).error || null);
    var live = $("live");
    live.textContent = "live · " + fmtTime(state.generated_at);
    live.className = "live on";
    if (opened) loadPanel();
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

  function wireCommon() {
    $("zoom-in").addEventListener("click", function () { dag.zoom(1.25); });
    $("zoom-out").addEventListener("click", function () { dag.zoom(0.8); });
    $("zoom-fit").addEventListener("click", function () { dag.fit(); });
    $("zoom-reset").addEventListener("click", function () { dag.reset(); });
    $("node-close").addEventListener("click", closePanel);
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && opened) closePanel(); });
    document.addEventListener("click", function (ev) {
      var link = ev.target.closest ? ev.target.closest("[data-open]") : null;
      if (!link) return;
      ev.preventDefault();
      select(link.getAttribute("data-open"));
    });
    var resizing = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizing);
      resizing = setTimeout(function () { if (last) dag.reset(); }, 150);
    });
  }

  wireCommon();
  if (embedded) {
    document.body.classList.add("static");
    $("dag-hint").textContent = "The DAG as declared in the pipeline file (pipe graph --format html): click a table " +
      "for its SQL. Run pipe ui for live rows, refreshes and the sinks.";
    apply(JSON.parse(embedded.textContent));
  } else {
    wire();
    poll();
  }
})();
