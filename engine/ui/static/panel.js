// pipe ui: the side panel of one table (its SQL highlighted, columns and types, lineage, its own
// refresh history and why a refresh was FULL) and the rendering of sink values.
(function () {
  "use strict";

  var KEYWORDS = ("select from where group by order having qualify join left right full outer inner cross on using as " +
    "and or not in is null case when then else end distinct union all intersect except minus with lateral flatten " +
    "over partition rows range between unbounded preceding following current row limit offset asc desc nulls first last " +
    "true false cast try_cast interval exists any some like ilike rlike within filter").split(" ");
  var KEYWORD = {};
  KEYWORDS.forEach(function (k) { KEYWORD[k] = true; });
  var TOKEN = /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^'\\]|\\.|'')*'?)|("(?:[^"]|"")*"?)|(\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b)|([A-Za-z_][A-Za-z0-9_$]*)(\s*\()?|(::|[(),;.:=<>!+\-*/%|]+)/gi;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function fmtNumber(value) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 });
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
  }

  // Snowflake SQL as text nodes in spans by token kind: never parsed as HTML.
  function highlight(sql, pre) {
    var at = 0, match;
    TOKEN.lastIndex = 0;
    function put(text, cls) {
      if (!text) return;
      pre.appendChild(cls ? el("span", { "class": "sql-" + cls }, text) : document.createTextNode(text));
    }
    while ((match = TOKEN.exec(sql)) !== null) {
      put(sql.slice(at, match.index));
      if (match[1]) put(match[1], "comment");
      else if (match[2]) put(match[2], "string");
      else if (match[3]) put(match[3], "ident");
      else if (match[4]) put(match[4], "number");
      else if (match[5]) {
        var word = match[5];
        put(word, KEYWORD[word.toLowerCase()] ? "keyword" : (match[6] ? "function" : null));
        if (match[6]) put(match[6]);
      } else put(match[7], "operator");
      at = TOKEN.lastIndex;
      if (match[0] === "") TOKEN.lastIndex++;
    }
    put(sql.slice(at));
  }

  var chosen = null;  // the tab the user chose, kept across redraws and tables

  function section(root, title) {
    root.appendChild(el("h3", {}, title));
    var box = el("div", { "class": "section" });
    root.appendChild(box);
    return box;
  }

  // Tabs over ``names`` (label by name); returns name -> its box. Shows the one chosen last.
  function tabs(root, names, labels, fallback) {
    var bar = el("div", { "class": "tabs", role: "tablist" }), boxes = {};
    root.appendChild(bar);
    names.forEach(function (name) {
      var button = el("button", { type: "button", role: "tab", "data-tab": name }, labels[name]);
      bar.appendChild(button);
      boxes[name] = el("div", { "class": "section tab-body", "data-tab-body": name, role: "tabpanel" });
      root.appendChild(boxes[name]);
      button.addEventListener("click", function () { chosen = name; show(name); });
    });
    function show(name) {
      names.forEach(function (n) {
        bar.querySelector('[data-tab="' + n + '"]').setAttribute("aria-selected", String(n === name));
        boxes[n].hidden = n !== name;
      });
    }
    show(names.indexOf(chosen) >= 0 ? chosen : fallback);
    return boxes;
  }

  function facts(box, rows) {
    var dl = el("dl", { "class": "facts" });
    rows.forEach(function (r) {
      if (r[1] === null || r[1] === undefined || r[1] === "") return;
      dl.appendChild(el("dt", {}, r[0]));
      var dd = el("dd", {}, typeof r[1] === "string" ? r[1] : null);
      if (typeof r[1] !== "string") dd.appendChild(r[1]);
      dl.appendChild(dd);
    });
    box.appendChild(dl);
  }

  function links(names) {
    var span = el("span", { "class": "links" });
    if (!names.length) span.textContent = "nothing";
    names.forEach(function (n) { span.appendChild(el("a", { href: "#", "data-open": n }, n)); });
    return span;
  }

  function isFull(action) { return action === "FULL" || action === "REINITIALIZE"; }

  function render(root, detail, node, options) {
    while (root.firstChild) root.removeChild(root.firstChild);
    var dynamic = detail.kind === "dynamic_table";
    var history = detail.history || [];
    var latest = history[0];
    var summary = el("div", { "class": "section summary" });
    root.appendChild(summary);
    var ran = latest ? (latest.REFRESH_ACTION || "—") + " · " + latest.STATE + " · +" +
      fmtNumber((latest.STATISTICS || {}).numInsertedRows) + " −" + fmtNumber((latest.STATISTICS || {}).numDeletedRows) +
      " · " + fmtTime(latest.REFRESH_START_TIME) : (options.embedded ? null : "none yet");
    facts(summary, [
      ["comment", detail.comment],
      ["rows", node.rows === null || node.rows === undefined ? null : fmtNumber(node.rows)],
      ["target lag", detail.target_lag],
      ["refresh mode", dynamic ? detail.declared_mode + (detail.declared_mode === "AUTO" ? " → " + detail.refresh_mode : "") : null],
      ["why that mode", detail.refresh_mode_reason],
      ["last refresh", dynamic ? ran : null],
      ["checks", node.checks || null],
      ["defined as", detail.definition],
      ["reads", links(detail.reads)],
      ["read by", links(detail.read_by)],
    ]);
    var failing = node.failed_checks || [];
    if (failing.length) {
      var errors = failing.some(function (c) { return c.severity === "error"; });
      var box = el("div", { "class": "failed-checks " + (errors ? "failed" : "warned"), "data-failed-checks": "" });
      box.appendChild(el("p", {}, (errors ? "Failing checks" : "Checks warning") + " (latest result):"));
      var list = el("ul");
      failing.forEach(function (c) {
        list.appendChild(el("li", { "data-check": c.name, "data-severity": c.severity },
          c.name + (c.severity === "error" ? "" : " (warn)")));
      });
      box.appendChild(list);
      summary.appendChild(box);
    }
    if (latest && isFull(latest.REFRESH_ACTION) && why(latest, detail)) {
      summary.appendChild(el("p", { "class": "why", "data-why": "" }, "Why " + latest.REFRESH_ACTION + ": " + why(latest, detail)));
    } else if (latest && latest.STATE !== "SUCCEEDED" && latest.STATE_MESSAGE) {
      summary.appendChild(el("p", { "class": "why failed" }, latest.STATE + ": " + latest.STATE_MESSAGE));
    }
    var names = dynamic ? ["sql", "columns", "refreshes"] : ["columns"];
    var labels = { sql: "SQL", columns: "Columns" + (detail.columns.length ? " (" + detail.columns.length + ")" : ""),
      refreshes: "Refreshes" + (history.length ? " (" + history.length + ")" : "") };
    var boxes = tabs(root, names, labels, dynamic ? "sql" : "columns");
    if (dynamic) {
      var pre = el("pre", { "class": "sql", "data-sql": "" });
      highlight(detail.sql || "", pre);
      boxes.sql.appendChild(pre);
    }
    var cols = boxes.columns;
    if (!detail.columns.length) {
      cols.appendChild(el("p", { "class": "note" }, "not known until the table exists on the target"));
    } else {
      var table = el("table", { "class": "columns" });
      table.appendChild(row("th", ["column", "type"]));
      detail.columns.forEach(function (c) { table.appendChild(row("td", [c.name, c.type || ""], { "data-column": c.name })); });
      cols.appendChild(table);
    }
    if (!dynamic) return;
    var box = boxes.refreshes;
    if (!history.length) {
      box.appendChild(el("p", { "class": "note" }, options.embedded ? "run pipe ui to see refreshes" : "no refreshes yet"));
      return;
    }
    var t = el("table", { "class": "node-history" });
    t.appendChild(row("th", ["started", "action", "state", "trigger", "rows in / out", "ms", "why / message"]));
    history.forEach(function (r) {
      var stats = r.STATISTICS || {};
      var ms = r.REFRESH_START_TIME && r.REFRESH_END_TIME
        ? fmtNumber(Math.round(new Date(r.REFRESH_END_TIME) - new Date(r.REFRESH_START_TIME))) : "";
      var io = stats.numInsertedRows === null || stats.numInsertedRows === undefined ? ""
        : "+" + fmtNumber(stats.numInsertedRows) + " −" + fmtNumber(stats.numDeletedRows || 0);
      var tr = row("td", [fmtTime(r.REFRESH_START_TIME), r.REFRESH_ACTION || "", r.STATE, r.REFRESH_TRIGGER,
        io, ms, why(r, detail)],
        { "data-action": r.REFRESH_ACTION || "", "data-state": r.STATE });
      if (isFull(r.REFRESH_ACTION)) tr.classList.add("full");
      t.appendChild(tr);
    });
    box.appendChild(t);
  }

  // Why a refresh did what it did: its STATE_MESSAGE; for a FULL one without a message, the
  // reason pipe knows (a table's first refresh computes every row; FULL mode and its reason).
  function why(r, detail) {
    if (r.STATE_MESSAGE) return r.STATE_MESSAGE;
    if (!isFull(r.REFRESH_ACTION)) return "";
    if (detail.refresh_mode === "FULL") return "refresh mode FULL: " + (detail.refresh_mode_reason || "");
    if (r.REFRESH_TRIGGER === "CREATION") return "initial refresh at creation: every row is computed";
    return "";
  }

  function row(cell, values, attrs) {
    var tr = el("tr", attrs || {});
    values.forEach(function (v) { tr.appendChild(el(cell, {}, v)); });
    return tr;
  }

  // A sink's value in a KPI tile: numbers, timestamps, bars for an object of numbers, text.
  function fill(box, value) {
    while (box.firstChild) box.removeChild(box.firstChild);
    box.classList.remove("small");
    if (value && typeof value === "object" && !Array.isArray(value)) {
      var entries = Object.keys(value).map(function (k) { return [k, value[k]]; });
      if (entries.length && entries.every(function (e) { return typeof e[1] === "number"; })) {
        var max = Math.max.apply(null, entries.map(function (e) { return e[1]; }).concat([1]));
        entries.sort(function (a, b) { return b[1] - a[1]; });
        var bars = el("div", { "class": "bars" });
        entries.forEach(function (e) {
          var line = el("div", { "class": "bar-row" });
          line.appendChild(el("span", { "class": "bar-key" }, e[0]));
          var track = el("span", { "class": "bar-track" }), bar = el("span", { "class": "bar" });
          bar.style.width = (100 * e[1] / max).toFixed(1) + "%";
          track.appendChild(bar);
          line.appendChild(track);
          line.appendChild(el("span", { "class": "bar-value" }, fmtNumber(e[1])));
          bars.appendChild(line);
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
    if (typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value)) { box.classList.add("small"); box.textContent = fmtTime(value); return; }
    box.textContent = value === null ? "—" : String(value);
  }

  window.PipePanel = { render: render, highlight: highlight };
  window.PipeValues = { fill: fill };
})();
