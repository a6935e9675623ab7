// pipe ui: the DAG as SVG — laid out by dependency level, boxes sized to their names, with pan and
// zoom (drag, wheel, buttons) and focused lineage. app.js feeds it states; it knows no server.
(function () {
  "use strict";

  var MIN_W = 262, MIN_W_BASE = 180, PAD_X = 14, GAP_X = 28, GAP_Y = 46, MARGIN = 24, LINE = 17;
  var H_DYNAMIC = 100, H_BASE = 74, MIN_SCALE = 0.2, MAX_SCALE = 2.5, READABLE = 0.93;

  function Dag(svg, options) {
    this.svg = svg;
    this.ns = svg.namespaceURI; // the HTML parser set it: no namespace URL spelled out here
    this.onSelect = options.onSelect || function () {};
    this.staticPage = !!options.staticPage;
    this.views = {};
    this.edges = [];
    this.view = { x: 0, y: 0, k: 1 };
    this.size = { width: 0, height: 0 };
    this.selected = null;
    this.signature = null;
    this._wire();
  }

  Dag.prototype.el = function (tag, attrs, parent) {
    var node = document.createElementNS(this.ns, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  };

  // -- drawing ---------------------------------------------------------------------------------

  // Draw the DAG of ``state`` when its nodes or edges changed; true when it redrew.
  Dag.prototype.draw = function (state) {
    var sig = JSON.stringify([state.nodes.map(function (n) { return [n.name, n.level]; }), state.edges]);
    if (sig === this.signature) return false;
    this.signature = sig;
    var svg = this.svg, self = this;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var defs = this.el("defs", {}, svg);
    ["arrow", "arrow-focus"].forEach(function (id) {
      var marker = self.el("marker", { id: id, viewBox: "0 0 10 10", refX: "9", refY: "5",
        markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
      self.el("path", { d: "M 0 0 L 10 5 L 0 10 z", "class": id + "-head" }, marker);
    });
    this.viewport = this.el("g", { "class": "viewport" }, svg);
    var edgesLayer = this.el("g", { "class": "edges" }, this.viewport);
    var nodesLayer = this.el("g", { "class": "nodes" }, this.viewport);
    this.views = {};
    state.nodes.forEach(function (n) { self.views[n.name] = self._node(nodesLayer, n); });
    var plan = layout(state, this.views);
    state.nodes.forEach(function (n) {
      var p = plan.pos[n.name], v = self.views[n.name];
      v.x = p.x; v.y = p.y;
      v.g.setAttribute("transform", "translate(" + p.x + "," + p.y + ")");
    });
    this.edges = state.edges.map(function (e) {
      var path = self.el("path", { "class": "edge", "data-edge": e.source + "->" + e.target,
        "data-source": e.source, "data-target": e.target, "marker-end": "url(#arrow)",
        d: edgePath(state.edges, self.views, e) }, edgesLayer);
      self.el("title", {}, path).textContent = e.target + " reads " + e.source;
      return { source: e.source, target: e.target, path: path };
    });
    this.size = { width: plan.width, height: plan.height };
    this.reset();
    if (this.selected && this.views[this.selected]) this.focus(this.selected);
    return true;
  };

  Dag.prototype._node = function (layer, n) {
    var dynamic = n.kind === "dynamic_table";
    var g = this.el("g", { "class": "node " + (dynamic ? "dynamic" : "base"), "data-node": n.name,
      "data-kind": n.kind, tabindex: "0", role: "button", "aria-label": "open " + n.name }, layer);
    var tip = this.el("title", {}, g);
    var card = this.el("rect", { "class": "card", rx: 9, ry: 9 }, g);
    var accent = this.el("rect", { "class": "accent", x: 0, y: 0, width: 5, rx: 2, ry: 2 }, g);
    var name = this.el("text", { "class": "name", x: PAD_X, y: 23 }, g);
    name.textContent = n.name;
    var badge = this.el("text", { "class": "badge", y: 22, "text-anchor": "end" }, g);
    badge.textContent = dynamic ? "DT" : (n.kind === "external" ? "EXT" : "TABLE");
    var count = dynamic ? 3 : 2, lines = [];
    for (var i = 0; i < count; i++) lines.push(this.el("text", { "class": "line" + (i === 0 ? " first" : ""), x: PAD_X, y: 46 + i * LINE }, g));
    // The state shares a line: the first of a base table, the last (data timestamp) of a dynamic table.
    var stateLine = dynamic ? count - 1 : 0;
    var width = Math.max(dynamic ? MIN_W : MIN_W_BASE, measure(name) + measure(badge) + 3 * PAD_X);
    var height = dynamic ? H_DYNAMIC : H_BASE;
    card.setAttribute("width", width); card.setAttribute("height", height);
    accent.setAttribute("height", height);
    badge.setAttribute("x", width - PAD_X);
    var state = this.el("text", { "class": "state", x: width - PAD_X, y: 46 + stateLine * LINE, "text-anchor": "end" }, g);
    var self = this;
    g.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") self.onSelect(n.name); });
    return { g: g, tip: tip, lines: lines, state: state, stateLine: stateLine, width: width, height: height, x: 0, y: 0 };
  };

  function measure(text) {
    try { return text.getComputedTextLength(); } catch (err) { return text.textContent.length * 8.5; }
  }

  // Set the text of node ``name``: ``lines`` (strings, cut to fit), ``state`` (right), ``cls``, ``tip``.
  Dag.prototype.update = function (name, lines, stateText, cls, tip) {
    var v = this.views[name];
    if (!v) return;
    var dynamic = v.g.classList.contains("dynamic");
    var keep = ["node", dynamic ? "dynamic" : "base", "state-" + cls];
    ["selected", "lineage", "dimmed"].forEach(function (c) { if (v.g.classList.contains(c)) keep.push(c); });
    v.g.setAttribute("class", keep.join(" "));
    var stateChanged = v.state.textContent !== stateText;
    v.state.textContent = stateText;
    v.lines.forEach(function (line, i) {
      var text = lines[i] || "";
      if (line.getAttribute("data-full") === text && !(stateChanged && i === v.stateLine)) return;  // keep the cut version
      line.setAttribute("data-full", text);
      line.textContent = text;
      cut(line, v.width - 2 * PAD_X - (i === v.stateLine && stateText ? measure(v.state) + 10 : 0));
    });
    v.tip.textContent = tip;
  };

  // Cut an SVG text with an ellipsis until it fits ``width`` (never squeeze glyphs).
  function cut(text, width) {
    try {
      var full = text.textContent;
      for (var n = full.length - 1; n > 0 && text.getComputedTextLength() > width; n--) {
        text.textContent = full.slice(0, n).replace(/[\s,·]+$/, "") + "…";
      }
    } catch (err) { /* not rendered (hidden): leave it */ }
  }

  // -- layout: one row per dependency level, ordered to limit crossings ------------------------

  function layout(state, views) {
    var levels = [];
    var reads = {}, readBy = {};
    state.nodes.forEach(function (n, i) {
      (levels[n.level] = levels[n.level] || []).push({ name: n.name, order: i });
      reads[n.name] = []; readBy[n.name] = [];
    });
    state.edges.forEach(function (e) { reads[e.target].push(e.source); readBy[e.source].push(e.target); });
    levels = levels.filter(function (row) { return row && row.length; });
    var rank = {};
    function number(row) { row.forEach(function (item, i) { rank[item.name] = i; }); }
    function mean(names, fallback) {
      var known = names.filter(function (x) { return rank[x] !== undefined; });
      if (!known.length) return fallback;
      return known.reduce(function (s, x) { return s + rank[x]; }, 0) / known.length;
    }
    levels.forEach(number);
    for (var sweep = 0; sweep < 4; sweep++) {  // barycentre ordering, down then up
      var down = sweep % 2 === 0;
      var order = down ? levels.slice(1) : levels.slice(0, -1).reverse();
      order.forEach(function (row) {
        row.forEach(function (item, i) { item.key = mean(down ? reads[item.name] : readBy[item.name], i); });
        row.sort(function (a, b) { return a.key - b.key || a.order - b.order; });
        number(row);
      });
    }
    var rowWidths = levels.map(function (row) {
      return row.reduce(function (s, item) { return s + views[item.name].width; }, 0) + (row.length - 1) * GAP_X;
    });
    var width = Math.max.apply(null, rowWidths) + 2 * MARGIN;
    var pos = {}, y = MARGIN;
    levels.forEach(function (row, r) {
      // Each node wants to sit under the middle of what it reads; overlaps push it aside.
      var start = (width - rowWidths[r]) / 2, x = start;
      row.forEach(function (item) {
        var w = views[item.name].width, parents = reads[item.name].filter(function (p) { return pos[p]; });
        var want = parents.length
          ? parents.reduce(function (s, p) { return s + pos[p].x + views[p].width / 2; }, 0) / parents.length - w / 2
          : x;
        item.x = Math.max(want, x, MARGIN);
        x = item.x + w + GAP_X;
      });
      var over = x - GAP_X - (width - MARGIN);
      for (var i = row.length - 1; i >= 0 && over > 0; i--) {  // pull back inside from the right
        var limit = i < row.length - 1 ? row[i + 1].x - GAP_X - views[row[i].name].width : width - MARGIN - views[row[i].name].width;
        row[i].x = Math.min(row[i].x, limit);
      }
      var height = Math.max.apply(null, row.map(function (item) { return views[item.name].height; }));
      row.forEach(function (item) { pos[item.name] = { x: item.x, y: y }; });
      y += height + GAP_Y;
    });
    return { pos: pos, width: width, height: y - GAP_Y + MARGIN };
  }

  // Spread the ends of several edges meeting at one node so that each stays visible.
  function edgePath(edges, views, e) {
    function spread(name, others, key) {
      var v = views[name], middle = v.x + v.width / 2;
      var list = others.slice().sort(function (a, b) { return views[a].x - views[b].x; });
      if (list.length < 2) return middle;
      var span = Math.min(v.width * 0.6, 30 * (list.length - 1));
      return middle - span / 2 + list.indexOf(key) * span / (list.length - 1);
    }
    var ins = edges.filter(function (x) { return x.target === e.target; }).map(function (x) { return x.source; });
    var outs = edges.filter(function (x) { return x.source === e.source; }).map(function (x) { return x.target; });
    var sx = spread(e.source, outs, e.target), sy = views[e.source].y + views[e.source].height;
    var tx = spread(e.target, ins, e.source), ty = views[e.target].y - 2;
    var dy = Math.max(24, (ty - sy) / 2);
    return "M " + sx + " " + sy + " C " + sx + " " + (sy + dy) + ", " + tx + " " + (ty - dy) + ", " + tx + " " + ty;
  }

  // -- pan and zoom ----------------------------------------------------------------------------

  Dag.prototype._apply = function () {
    if (this.viewport) {
      this.viewport.setAttribute("transform", "translate(" + this.view.x + "," + this.view.y + ") scale(" + this.view.k + ")");
    }
    this.svg.setAttribute("data-scale", this.view.k.toFixed(3));
  };

  Dag.prototype._box = function () {
    var r = this.svg.getBoundingClientRect();
    return { width: r.width || 800, height: r.height || 600, left: r.left, top: r.top };
  };

  // The starting view: the whole DAG when it fits at a readable scale; else 1:1 from its top,
  // centred (drag or zoom to see the rest).
  Dag.prototype.reset = function () {
    var box = this._box(), w = this.size.width, h = this.size.height;
    var fit = Math.min(box.width / w, box.height / h);
    var k = fit >= READABLE ? Math.min(fit, 1.15) : 1;
    this.view = { k: k, x: (box.width - w * k) / 2, y: h * k <= box.height ? (box.height - h * k) / 2 : 0 };
    this._apply();
  };

  // Everything in view, however small it gets.
  Dag.prototype.fit = function () {
    var box = this._box();
    var k = Math.max(MIN_SCALE, Math.min(box.width / this.size.width, box.height / this.size.height, MAX_SCALE));
    this.view = { k: k, x: (box.width - this.size.width * k) / 2, y: (box.height - this.size.height * k) / 2 };
    this._apply();
  };

  Dag.prototype.zoom = function (factor, cx, cy) {
    var box = this._box();
    if (cx === undefined) { cx = box.width / 2; cy = box.height / 2; }
    var k = Math.max(MIN_SCALE, Math.min(MAX_SCALE, this.view.k * factor));
    this.view.x = cx - (cx - this.view.x) * k / this.view.k;
    this.view.y = cy - (cy - this.view.y) * k / this.view.k;
    this.view.k = k;
    this._apply();
  };

  // Bring node ``name`` into view (at a readable scale) without moving it when it already is.
  Dag.prototype.reveal = function (name) {
    var v = this.views[name];
    if (!v) return;
    var box = this._box();
    if (this.view.k < READABLE) {
      this.view.k = 1;
    }
    var k = this.view.k, left = this.view.x + v.x * k, top = this.view.y + v.y * k;
    if (left < 0 || top < 0 || left + v.width * k > box.width || top + v.height * k > box.height) {
      this.view.x = box.width / 2 - (v.x + v.width / 2) * k;
      this.view.y = box.height / 2 - (v.y + v.height / 2) * k;
    }
    this._apply();
  };

  Dag.prototype._wire = function () {
    var self = this, svg = this.svg, drag = null;
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var box = self._box();
      self.zoom(Math.exp(-ev.deltaY * 0.0015), ev.clientX - box.left, ev.clientY - box.top);
    }, { passive: false });
    svg.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, vx: self.view.x, vy: self.view.y, moved: false };
    });
    window.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!drag.moved) svg.classList.add("panning");
      drag.moved = true;
      self.view.x = drag.vx + dx; self.view.y = drag.vy + dy;
      self._apply();
    });
    window.addEventListener("pointerup", function (ev) {
      if (!drag) return;
      var moved = drag.moved;
      drag = null;
      svg.classList.remove("panning");
      if (moved) return;
      var node = ev.target.closest ? ev.target.closest("[data-node]") : null;
      if (node && svg.contains(node)) self.onSelect(node.getAttribute("data-node"));
      else if (svg.contains(ev.target)) self.onSelect(null);
    });
  };

  // -- focus: a node, what it reads and what reads it ------------------------------------------

  Dag.prototype.focus = function (name) {
    this.selected = name;
    var up = {}, down = {}, edges = this.edges;
    function walk(start, key, other, seen) {
      var stack = [start];
      while (stack.length) {
        var at = stack.pop();
        edges.forEach(function (e) {
          if (e[key] === at && !seen[e[other]]) { seen[e[other]] = true; stack.push(e[other]); }
        });
      }
    }
    if (name) { walk(name, "target", "source", up); walk(name, "source", "target", down); }
    var self = this;
    Object.keys(this.views).forEach(function (n) {
      var g = self.views[n].g;
      g.classList.toggle("selected", n === name);
      g.classList.toggle("lineage", !!name && n !== name && (up[n] || down[n]));
      g.classList.toggle("dimmed", !!name && n !== name && !up[n] && !down[n]);
    });
    edges.forEach(function (e) {
      var on = !!name && (e.target === name || up[e.target]) && (e.source === name || up[e.source]) ||
        !!name && (e.source === name || down[e.source]) && (e.target === name || down[e.target]);
      e.path.classList.toggle("focus", on);
      e.path.classList.toggle("dimmed", !!name && !on);
      e.path.setAttribute("marker-end", on ? "url(#arrow-focus)" : "url(#arrow)");
    });
  };

  // Mark a node as just refreshed (``quiet``: nothing changed) for a moment.
  Dag.prototype.pulse = function (name, quiet) {
    var v = this.views[name];
    if (!v) return;
    var cls = quiet ? "pulse-quiet" : "pulse";
    v.g.classList.remove("pulse", "pulse-quiet");
    void v.g.getBoundingClientRect(); // restart the animation
    v.g.classList.add(cls);
    setTimeout(function () { v.g.classList.remove(cls); }, 1800);
    if (quiet) return;
    this.edges.forEach(function (e) {
      if (e.target !== name) return;
      e.path.classList.add("flow");
      setTimeout(function () { e.path.classList.remove("flow"); }, 1800);
    });
  };

  window.PipeDag = Dag;
})();
