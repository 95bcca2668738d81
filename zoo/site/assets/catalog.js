/* zoo's catalogue site: the index's search, facets, sorting, chart and shareable URLs; the cards' copy buttons.
 *
 * Search scores every query word as zoo.registry._query.search does (same rows, same weights: see
 * zoo/registry/_listing.py), so the page and `zoo search` rank alike. Written by zoo; no library, no network.
 */
(function () {
  "use strict";

  // Field names of the index JSON (zoo/site/_data.py: zoo.registry.ModelRow, VersionRow and SearchWords).
  var M_NAME = "name", M_TASK = "task", M_MODALITY = "modality", M_ARCH = "architecture", M_DEFAULT = "default",
      M_PAGE = "page", M_VERSIONS = "versions", M_SEARCH = "search";
  var V_NAME = "name", V_ADAPTER = "adapter", V_LICENSE = "license", V_PARAMS = "params", V_SIZE = "size",
      V_SIZE_KNOWN = "size_known", V_TIER = "verification", V_SOURCE = "source", V_METRICS = "metrics", V_YEAR = "year",
      V_TASK = "task", V_WORDS = "words";
  var FACETS = ["task", "modality", "license", "source", "adapter", "tier"];
  var PAGE = 100; // table rows drawn before "Show all"

  // ---- search: a port of zoo.registry._query (_model_score, _version_scores, search) ----

  function squash(text) { return text.toLowerCase().replace(/[^a-z0-9]/g, ""); }

  function wordScore(levels, word) {
    var needle = " " + word + " ";
    for (var i = 0; i < levels.length; i++) if (levels[i][1].indexOf(needle) !== -1) return levels[i][0];
    return 0;
  }

  var SPLIT_ID = /[.@]/;

  function modelScore(token, squashed, search) {
    var names = search.names, best = 0;
    for (var i = 0; i < names.length; i++) {
      var candidate = names[i][0], weight = names[i][1], score;
      if (candidate === squashed) score = 100 * weight;
      else if (candidate.indexOf(squashed) === 0) score = 60 * weight;
      else if (candidate.indexOf(squashed) !== -1) score = 40 * weight;
      else continue;
      if (score > best) best = score;
    }
    var word = wordScore(search.words, token);
    if (word > best) best = word;
    if (best < 25 && squashed === search.architecture) best = 25;
    var fallback = best === 0 && squashed.length >= 3 && search.haystack.indexOf(squashed) !== -1 ? 8 : 0;
    return [best, fallback];
  }

  function versionScores(tokens, search, vwords) {
    var totals = vwords.map(function () { return 0; });
    for (var t = 0; t < tokens.length; t++) {
      var token = tokens[t][0], squashed = tokens[t][1];
      var ms = modelScore(token, squashed, search), base = ms[0], fallback = ms[1];
      var part = vwords.map(function (w) { return Math.max(base, wordScore(w, token)) || fallback; });
      if (!part.some(Boolean) && SPLIT_ID.test(token)) {
        var at = token.search(SPLIT_ID), namePart = token.slice(0, at), versionPart = token.slice(at + 1);
        var nameScore = squash(namePart) ? modelScore(namePart, squash(namePart), search)[0] : 0;
        if (nameScore) part = vwords.map(function (w) { var s = wordScore(w, versionPart); return s ? nameScore + s : 0; });
      }
      totals = totals.map(function (total, k) { return part[k] && total >= 0 ? total + part[k] : -1; });
      if (Math.max.apply(null, totals) < 0) return vwords.map(function () { return 0; });
    }
    return totals.map(function (x) { return Math.max(x, 0); });
  }

  function tokensOf(query) {
    return query.toLowerCase().split(/\s+/).filter(Boolean).map(function (t) { return [t, squash(t)]; })
      .filter(function (p) { return p[1]; });
  }

  function facetValue(key, m, v) {
    switch (key) {
      case "task": return v[V_TASK];
      case "modality": return m[M_MODALITY];
      case "license": return v[V_LICENSE].toLowerCase();
      case "source": return v[V_SOURCE];
      case "adapter": return v[V_ADAPTER];
      case "tier": return v[V_TIER];
    }
    return "";
  }

  function passes(m, v, filters, skip) {
    for (var i = 0; i < FACETS.length; i++) {
      var key = FACETS[i], wanted = filters[key];
      if (key === skip || !wanted || !wanted.length) continue;
      if (wanted.indexOf(facetValue(key, m, v)) === -1) return false;
    }
    return true;
  }

  function orderedVersions(m) {
    var vs = m[M_VERSIONS];
    var first = vs.findIndex(function (v) { return v[V_NAME] === m[M_DEFAULT]; });
    if (first <= 0) return vs.slice();
    return [vs[first]].concat(vs.filter(function (_, i) { return i !== first; }));
  }

  // One hit per model: its best-scoring version that passes the filters (the default on a tie), best first.
  function search(models, query, filters, skip) {
    var tokens = tokensOf(query), whole = tokens.length > 1 ? squash(query) : null, hits = [];
    for (var i = 0; i < models.length; i++) {
      var m = models[i], versions = orderedVersions(m).filter(function (v) { return passes(m, v, filters, skip); });
      if (!versions.length) continue;
      var scores;
      if (tokens.length) {
        scores = versionScores(tokens, m[M_SEARCH], versions.map(function (v) { return v[V_WORDS]; }));
        if (!scores.some(Boolean)) continue;
        if (whole !== null) {
          var bonus = 0;
          m[M_SEARCH].names.forEach(function (n) { if (n[0] === whole) bonus = Math.max(bonus, 100 * n[1]); });
          scores = scores.map(function (s) { return s ? s + bonus : 0; });
        }
      } else {
        scores = versions.map(function () { return 0; });
      }
      var best = 0;
      for (var k = 1; k < scores.length; k++) if (scores[k] > scores[best]) best = k;
      hits.push({ m: m, v: versions[best], score: scores[best], versions: versions });
    }
    // Ties as zoo search breaks them: a name whose first word is the first word typed, then the shorter name,
    // then name order (the sort is stable).
    var first = tokens.length ? tokens[0][0] : null;
    function own(h) { return h.m[M_NAME].split(/[._-]/, 1)[0] === first ? 0 : 1; }
    hits.sort(function (a, b) { return b.score - a.score || own(a) - own(b) || a.m[M_NAME].length - b.m[M_NAME].length; });
    return hits;
  }

  // ---- sorting (as zoo list --sort: stable, missing values last) ----

  function natural(name) {
    return name.split(/(\d+)/).map(function (p, i) { return i % 2 ? parseInt(p, 10) : p; });
  }

  function compareNatural(a, b) {
    var x = natural(a), y = natural(b);
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] === y[i]) continue;
      if (typeof x[i] === typeof y[i]) return x[i] < y[i] ? -1 : 1;
      return typeof x[i] === "number" ? -1 : 1;
    }
    return x.length - y.length;
  }

  function sortValue(key, hit) {
    var v = hit.v;
    switch (key) {
      case "params": return v[V_PARAMS];
      case "size": return v[V_SIZE_KNOWN] ? v[V_SIZE] : null;
      case "year": return v[V_YEAR];
      case "top1": case "top5": case "gmacs": return v[V_METRICS][key] === undefined ? null : v[V_METRICS][key];
    }
    var text = { version: v[V_NAME], task: v[V_TASK], license: v[V_LICENSE], source: v[V_SOURCE], tier: v[V_TIER] }[key];
    return text === undefined ? null : text;
  }

  function sortHits(hits, sort) {
    if (!sort) return hits;
    var desc = sort.charAt(0) === "-", key = sort.replace(/^[-+]/, "");
    if (key === "name") {
      var byName = hits.slice().sort(function (a, b) { return compareNatural(a.m[M_NAME], b.m[M_NAME]); });
      return desc ? byName.reverse() : byName;
    }
    var present = hits.filter(function (h) { return sortValue(key, h) !== null; });
    var missing = hits.filter(function (h) { return sortValue(key, h) === null; });
    present.sort(function (a, b) {
      var x = sortValue(key, a), y = sortValue(key, b), c = x < y ? -1 : x > y ? 1 : 0;
      return desc ? -c : c;
    });
    return present.concat(missing);
  }

  // ---- formatting ----

  function count(n) { // as zoo._units.human_count
    if (n === null || n === undefined) return "";
    if (n >= 1e9) return (n / 1e9).toFixed(1) + "B";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
    return String(n);
  }

  function size(n, known) { // as zoo._units.human_size: decimal units
    if (!n || !known) return "";
    var units = ["B", "kB", "MB", "GB"], i = 0;
    while (n >= 1000 && i < 3) { n /= 1000; i++; }
    return i ? n.toFixed(1) + " " + units[i] : n + " B";
  }

  function fixed(x) { return x === undefined || x === null ? "" : x.toFixed(2); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    return node;
  }

  // Architecture family: the leading letters of the architecture ("ResNet-50" -> ResNet, "VisionTransformer").
  function familyOf(m) {
    var match = /^[A-Za-z]+/.exec(m[M_ARCH]);
    return match ? match[0] : m[M_ARCH];
  }

  // The ten families with most points get a colour each (a qualitative palette); the rest are grey.
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79"];
  var OTHER = "#9aa3ad";

  // ---- the index page ----

  function Index(data) {
    this.models = data.models;
    this.state = { q: "", sort: "", x: "gmacs", all: false, filters: {} };
    this.input = document.getElementById("q");
    this.tbody = document.querySelector("#models tbody");
    this.more = document.getElementById("more");
    this.chart = document.getElementById("chart");
    this.tip = document.getElementById("tip");
    this.countNode = document.getElementById("count");
    this.xaxis = document.getElementById("xaxis");
    this.values = {};
    var self = this;
    FACETS.forEach(function (key) {
      var seen = {};
      self.models.forEach(function (m) { m[M_VERSIONS].forEach(function (v) { seen[facetValue(key, m, v)] = true; }); });
      self.values[key] = Object.keys(seen).filter(Boolean).sort();
    });
  }

  Index.prototype.readHash = function () {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var state = { q: params.get("q") || "", sort: params.get("sort") || "", x: ["params", "mteb"].indexOf(params.get("x")) !== -1 ? params.get("x") : "gmacs",
                  all: params.get("all") === "1", filters: {} };
    FACETS.forEach(function (key) { var v = params.get(key); if (v) state.filters[key] = v.split(","); });
    this.state = state;
  };

  Index.prototype.writeHash = function () {
    var params = new URLSearchParams(), s = this.state;
    if (s.q) params.set("q", s.q);
    FACETS.forEach(function (key) { if (s.filters[key] && s.filters[key].length) params.set(key, s.filters[key].join(",")); });
    if (s.sort) params.set("sort", s.sort);
    if (s.x !== "gmacs") params.set("x", s.x);
    if (s.all) params.set("all", "1");
    var hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  };

  Index.prototype.buildFacets = function () {
    var self = this;
    FACETS.forEach(function (key) {
      var box = document.querySelector('.facet[data-facet="' + key + '"] .values');
      box.textContent = "";
      self.values[key].forEach(function (value) {
        var label = el("label", { "class": "value" });
        var input = el("input", { type: "checkbox", value: value, "data-facet": key });
        input.addEventListener("change", function () { self.toggle(key, value, input.checked); });
        label.appendChild(input);
        label.appendChild(el("span", { "class": "name" }, " " + value + " "));
        label.appendChild(el("span", { "class": "n" }, ""));
        box.appendChild(label);
      });
    });
  };

  Index.prototype.toggle = function (key, value, on) {
    var list = (this.state.filters[key] || []).filter(function (v) { return v !== value; });
    if (on) list.push(value);
    this.state.filters[key] = list;
    this.update();
  };

  Index.prototype.syncControls = function () {
    var s = this.state;
    this.input.value = s.q;
    this.xaxis.value = s.x;
    document.querySelectorAll(".facet input").forEach(function (box) {
      var wanted = s.filters[box.getAttribute("data-facet")] || [];
      box.checked = wanted.indexOf(box.value) !== -1;
    });
  };

  Index.prototype.update = function () {
    var s = this.state, self = this;
    var hits = search(this.models, s.q, s.filters, null);
    this.hits = sortHits(hits, s.sort);
    this.countNode.textContent = hits.length + (hits.length === 1 ? " model" : " models") +
      (s.q || Object.keys(s.filters).some(function (k) { return s.filters[k].length; }) ? " match" : "");
    // Facet counts: models that would match with this value ticked, the other facets as they are.
    FACETS.forEach(function (key) {
      var counts = {};
      search(self.models, s.q, s.filters, key).forEach(function (h) {
        var seen = {};
        h.versions.forEach(function (v) { seen[facetValue(key, h.m, v)] = true; });
        Object.keys(seen).forEach(function (value) { counts[value] = (counts[value] || 0) + 1; });
      });
      document.querySelectorAll('.facet[data-facet="' + key + '"] label.value').forEach(function (label) {
        var value = label.querySelector("input").value, n = counts[value] || 0;
        label.querySelector(".n").textContent = "(" + n + ")";
        label.classList.toggle("empty", n === 0);
      });
    });
    this.drawTable();
    this.drawChart(hits);
    document.querySelectorAll("button.sort").forEach(function (b) {
      var key = b.getAttribute("data-sort"), th = b.parentNode;
      th.setAttribute("aria-sort", s.sort === key ? "ascending" : s.sort === "-" + key ? "descending" : "none");
    });
    this.writeHash();
  };

  Index.prototype.drawTable = function () {
    var rows = this.state.all ? this.hits : this.hits.slice(0, PAGE), body = document.createDocumentFragment();
    rows.forEach(function (h) {
      var m = h.m, v = h.v, tr = el("tr", { "data-id": m[M_NAME] + "@" + v[V_NAME] });
      var name = el("td"), link = el("a", { href: m[M_PAGE] + "#v-" + encodeURIComponent(v[V_NAME]) }, m[M_NAME]);
      name.appendChild(link);
      tr.appendChild(name);
      [[v[V_NAME]], [v[V_TASK]], [fixed(v[V_METRICS].top1), "num"], [count(v[V_PARAMS]), "num"],
       [fixed(v[V_METRICS].gmacs), "num"], [size(v[V_SIZE], v[V_SIZE_KNOWN]), "num"], [v[V_LICENSE]], [v[V_SOURCE]],
       [v[V_TIER]], [v[V_YEAR] || "", "num"]].forEach(function (cell) {
        tr.appendChild(el("td", cell[1] ? { "class": cell[1] } : {}, String(cell[0])));
      });
      body.appendChild(tr);
    });
    this.tbody.textContent = "";
    this.tbody.appendChild(body);
    var hidden = this.hits.length - rows.length;
    this.more.hidden = hidden <= 0;
    this.more.textContent = "Show all " + this.hits.length;
  };

  Index.prototype.drawChart = function (hits) {
    // x "gmacs" / "params": ImageNet top-1 against cost (vision); "mteb": MTEB(eng, v2) against parameters (text).
    var x = this.state.x, chart = this.chart, self = this, yKey = x === "mteb" ? "mteb" : "top1";
    var yName = x === "mteb" ? "MTEB(eng, v2)" : "top-1";
    document.getElementById("xname").textContent = x === "gmacs" ? "GMACs" : "parameters";
    document.getElementById("yname").textContent = x === "mteb" ? "MTEB(eng, v2) mean" : "ImageNet top-1";
    var points = [];
    hits.forEach(function (h) {
      h.versions.forEach(function (v) {
        var score = v[V_METRICS][yKey], cost = x === "gmacs" ? v[V_METRICS].gmacs : v[V_PARAMS];
        if (score !== undefined && cost) points.push({ m: h.m, v: v, x: cost, y: score });
      });
    });
    chart.textContent = "";
    var W = 960, H = 420, L = 56, R = 16, T = 12, B = 44;
    if (!points.length) {
      var empty = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "class": "empty" });
      empty.textContent = "No version here has a published " + yName + " and " + (x === "gmacs" ? "GMACs" : "parameter count");
      chart.appendChild(empty);
      return;
    }
    var xs = points.map(function (p) { return Math.log10(p.x); }), ys = points.map(function (p) { return p.y; });
    var x0 = Math.floor(Math.min.apply(null, xs)), x1 = Math.ceil(Math.max.apply(null, xs));
    if (x1 === x0) x1 = x0 + 1;
    var y0 = Math.floor(Math.min.apply(null, ys) / 5) * 5, y1 = Math.ceil(Math.max.apply(null, ys) / 5) * 5;
    if (y1 === y0) y1 = y0 + 5;
    function px(v) { return L + (Math.log10(v) - x0) / (x1 - x0) * (W - L - R); }
    function py(v) { return T + (y1 - v) / (y1 - y0) * (H - T - B); }
    var axes = svg("g", { "class": "axes" });
    for (var e = x0; e <= x1; e++) {
      [1, 2, 5].forEach(function (k) {
        var value = k * Math.pow(10, e);
        if (Math.log10(value) > x1 + 1e-9) return;
        var gx = px(value);
        axes.appendChild(svg("line", { x1: gx, x2: gx, y1: T, y2: H - B, "class": k === 1 ? "grid major" : "grid" }));
        if (k === 1 || x1 - x0 <= 2) {
          var label = svg("text", { x: gx, y: H - B + 16, "text-anchor": gx > W - R - 20 ? "end" : "middle" });
          label.textContent = x !== "gmacs" ? count(value) : String(+value.toPrecision(3));
          axes.appendChild(label);
        }
      });
    }
    for (var yv = y0; yv <= y1; yv += 5) {
      axes.appendChild(svg("line", { x1: L, x2: W - R, y1: py(yv), y2: py(yv), "class": "grid" }));
      var ylabel = svg("text", { x: L - 6, y: py(yv) + 4, "text-anchor": "end" });
      ylabel.textContent = yv;
      axes.appendChild(ylabel);
    }
    var xtitle = svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", "class": "title" });
    xtitle.textContent = x === "gmacs" ? "GMACs (log)" : "parameters (log)";
    var ytitle = svg("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", "class": "title",
                               transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" });
    ytitle.textContent = x === "mteb" ? "MTEB(eng, v2) mean of 41 tasks" : "ImageNet top-1 (%)";
    axes.appendChild(xtitle);
    axes.appendChild(ytitle);
    chart.appendChild(axes);
    // The Pareto front: cheapest first, each point more accurate than every cheaper one.
    var sorted = points.slice().sort(function (a, b) { return a.x - b.x || b.y - a.y; }), front = [], best = -Infinity;
    sorted.forEach(function (p) { if (p.y > best) { front.push(p); best = p.y; } });
    chart.appendChild(svg("polyline", { "class": "pareto", points: front.map(function (p) { return px(p.x) + "," + py(p.y); }).join(" ") }));
    var sizes = {};
    points.forEach(function (p) { p.family = familyOf(p.m); sizes[p.family] = (sizes[p.family] || 0) + 1; });
    var top = Object.keys(sizes).sort(function (a, b) { return sizes[b] - sizes[a] || (a < b ? -1 : 1); }).slice(0, PALETTE.length);
    var colour = {};
    top.forEach(function (f, i) { colour[f] = PALETTE[i]; });
    var legend = document.getElementById("legend");
    legend.textContent = "";
    top.concat(Object.keys(sizes).length > top.length ? ["other"] : []).forEach(function (f) {
      var item = el("li", {}, f === "other" ? "other families" : f + " (" + sizes[f] + ")");
      item.style.setProperty("--dot", colour[f] || OTHER);
      legend.appendChild(item);
    });
    var dots = svg("g", { "class": "points" });
    // Grey first, so the coloured families are drawn on top.
    points.sort(function (a, b) { return (colour[a.family] ? 1 : 0) - (colour[b.family] ? 1 : 0); });
    points.forEach(function (p) {
      var id = p.m[M_NAME] + "@" + p.v[V_NAME];
      var dot = svg("circle", { cx: px(p.x).toFixed(1), cy: py(p.y).toFixed(1), r: 4, fill: colour[p.family] || OTHER,
                                "data-id": id, "data-href": p.m[M_PAGE] + "#v-" + encodeURIComponent(p.v[V_NAME]) });
      if (front.indexOf(p) !== -1) dot.setAttribute("class", "front");
      dots.appendChild(dot);
    });
    dots.addEventListener("mouseover", function (ev) {
      var id = ev.target.getAttribute && ev.target.getAttribute("data-id");
      if (!id) return;
      var p = points.find(function (q) { return q.m[M_NAME] + "@" + q.v[V_NAME] === id; });
      self.tip.textContent = id + ": " + yName + " " + p.y.toFixed(2) + ", " + (x === "gmacs" ? p.x + " GMACs" : count(p.x) + " params");
      var box = chart.getBoundingClientRect(), frame = chart.parentNode.getBoundingClientRect(), scale = box.width / W;
      self.tip.style.left = (box.left - frame.left + ev.target.cx.baseVal.value * scale + 10) + "px";
      self.tip.style.top = (box.top - frame.top + ev.target.cy.baseVal.value * scale - 28) + "px";
      self.tip.hidden = false;
    });
    dots.addEventListener("mouseout", function () { self.tip.hidden = true; });
    dots.addEventListener("click", function (ev) {
      var href = ev.target.getAttribute && ev.target.getAttribute("data-href");
      if (href) location.href = href;
    });
    chart.appendChild(dots);
  };

  Index.prototype.start = function () {
    var self = this, timer = null;
    this.buildFacets();
    this.readHash();
    this.syncControls();
    this.input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.state.q = self.input.value; self.update(); }, 60);
    });
    this.xaxis.addEventListener("change", function () { self.state.x = self.xaxis.value; self.update(); });
    document.getElementById("clear").addEventListener("click", function () {
      self.state.filters = {};
      self.syncControls();
      self.update();
    });
    document.querySelectorAll("button.sort").forEach(function (b) {
      b.addEventListener("click", function () {
        var key = b.getAttribute("data-sort"), s = self.state;
        var numeric = b.parentNode.classList.contains("num");
        // Figures sort best-first (descending) on the first click, names A-Z.
        var first = numeric && key !== "params" && key !== "gmacs" && key !== "size" ? "-" + key : key;
        var other = first.charAt(0) === "-" ? key : "-" + key;
        s.sort = s.sort === first ? other : s.sort === other ? "" : first;
        self.update();
      });
    });
    this.more.addEventListener("click", function () { self.state.all = true; self.update(); });
    window.addEventListener("hashchange", function () { self.readHash(); self.syncControls(); self.update(); });
    document.body.classList.add("js");
    this.update();
    if (window.performance && performance.mark) performance.mark("zoo-ready");
    document.body.setAttribute("data-ready", "1");
  };

  // ---- cards: copy buttons ----

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = el("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function startCard() {
    document.body.classList.add("js");
    document.querySelectorAll("button.copy").forEach(function (button) {
      button.addEventListener("click", function () {
        copyText(button.getAttribute("data-copy")).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        }, function () { button.textContent = "Select and copy"; });
      });
    });
    document.body.setAttribute("data-ready", "1");
  }

  var page = document.body.getAttribute("data-page");
  if (page === "index") new Index(JSON.parse(document.getElementById("zoo-data").textContent)).start();
  else if (page === "card") startCard();

  // For tests and tools: the same search the page runs.
  window.zooCatalog = { search: function (query) {
    var data = JSON.parse(document.getElementById("zoo-data").textContent);
    return search(data.models, query, {}, null).map(function (h) { return h.m[M_NAME] + "@" + h.v[V_NAME]; });
  } };
})();
