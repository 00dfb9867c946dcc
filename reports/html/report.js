/* SelfSynth report: a static page over the data files in data/ (no server, no network).
 *
 * Data files are scripts that call SELFSYNTH.receive(name, value): browsers refuse fetch() of
 * local files. Everything from the run (answers, labels, concept names, ids) is untrusted text:
 * it reaches the page only through textContent, text nodes and setAttribute, never as markup.
 * The page state lives in the URL hash (#view=samples&correct=wrong&open=<uid>), so a link or a
 * headless browser can open any view, filter or sample directly.
 */
(function () {
  "use strict";

  // -- data loading ------------------------------------------------------------------------------
  const received = Object.create(null);
  const waiting = Object.create(null);
  const loading = Object.create(null);

  window.SELFSYNTH = {
    receive: function (name, value) {
      received[name] = value;
      (waiting[name] || []).forEach(function (resolve) { resolve(value); });
      delete waiting[name];
    },
  };

  function load(name, src) {
    if (name in received) return Promise.resolve(received[name]);
    if (!loading[name]) {
      loading[name] = new Promise(function (resolve, reject) {
        (waiting[name] = waiting[name] || []).push(resolve);
        const script = document.createElement("script");
        script.src = src;
        script.onerror = function () { reject(new Error("could not load " + src)); };
        document.head.appendChild(script);
      });
    }
    return loading[name];
  }

  function pad(n) { return String(n).padStart(5, "0"); }
  function sampleChunk(n) { return load("samples:" + n, "data/samples_" + pad(n) + ".js"); }
  function synthChunk(n) { return load("synth:" + n, "data/synth_" + pad(n) + ".js"); }

  // -- DOM helpers (text only) -----------------------------------------------------------------
  function el(tag, attrs) {
    const node = document.createElement(tag);
    const options = attrs || {};
    Object.keys(options).forEach(function (key) {
      const value = options[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    for (let i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = String(attrs[key]);
      else node.setAttribute(key, String(attrs[key]));
    });
    return node;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || value === "") return "–";
    if (typeof value === "number") {
      if (digits !== undefined) return value.toFixed(digits);
      return Number.isInteger(value) ? String(value) : value.toFixed(3);
    }
    return String(value);
  }

  function signed(value) { return (value >= 0 ? "+" : "−") + Math.abs(value).toFixed(3); }

  function mark(ok, text) {
    return el("span", { class: "mark " + (ok ? "ok" : "bad") }, (ok ? "✓ " : "✗ ") + (text || (ok ? "correct" : "wrong")));
  }

  // -- URL state -------------------------------------------------------------------------------
  function params() { return new URLSearchParams(location.hash.replace(/^#/, "")); }

  function hashWith(updates, base) {
    const p = base !== undefined ? new URLSearchParams(base) : params();
    Object.keys(updates).forEach(function (key) {
      const value = updates[key];
      if (value === null || value === undefined || value === "") p.delete(key); else p.set(key, String(value));
    });
    return "#" + p.toString();
  }

  function go(updates) {
    const target = hashWith(updates);
    if (target === location.hash) render(); else location.hash = target;
  }

  // -- shared data -----------------------------------------------------------------------------
  let meta = null;
  let index = null;
  const columnIndex = Object.create(null);

  function columnLabel(key) {
    const column = meta.columns[columnIndex[key]];
    return column ? column.label : key;
  }

  function methods() { return Array.from(new Set(meta.columns.map(function (c) { return c.method; }))); }
  function iterations() {
    return Array.from(new Set(meta.columns.map(function (c) { return c.iteration; }))).sort(function (a, b) { return a - b; });
  }

  function select(id, label, value, choices, onchange) {
    const control = el("select", { id: id, name: id, onchange: onchange });
    choices.forEach(function (choice) {
      const option = el("option", { value: choice[0] }, choice[1]);
      if (String(choice[0]) === String(value || "")) option.selected = true;
      control.append(option);
    });
    return el("div", { class: "field" }, el("label", { for: id }, label), control);
  }

  function thumb(name, label) {
    if (!name) return el("span", { class: "thumb none", role: "img", "aria-label": "no image available" }, "no image");
    return el("img", { class: "thumb", src: "thumbs/" + name, alt: "image of class " + label, width: 96, height: 96, loading: "lazy" });
  }

  function pager(page, pages, total, noun) {
    const nav = el("nav", { class: "pager", "aria-label": "Pages of " + noun });
    nav.append(el("button", { type: "button", disabled: page <= 1, onclick: function () { go({ page: page - 1 }); } }, "← Previous"));
    nav.append(el("span", { class: "page-of" }, "Page " + page + " of " + Math.max(1, pages)));
    nav.append(el("button", { type: "button", disabled: page >= pages, onclick: function () { go({ page: page + 1 }); } }, "Next →"));
    return nav;
  }

  function table(spec) {
    const t = el("table", { class: "data" });
    t.append(el("caption", {}, spec.title));
    const head = el("tr");
    spec.columns.forEach(function (c) { head.append(el("th", { scope: "col" }, c)); });
    t.append(el("thead", {}, head));
    const body = el("tbody");
    // a column holding any fraction shows every number with 3 decimals (1 as 1.000, not 1)
    const fractional = spec.columns.map(function (_, j) {
      return spec.rows.some(function (row) { return typeof row[j] === "number" && !Number.isInteger(row[j]); });
    });
    spec.rows.forEach(function (row) {
      const tr = el("tr");
      row.forEach(function (cell, j) {
        const numeric = typeof cell === "number" || (typeof cell === "string" && /^[−-]?\d+(\.\d+)?( ± \S+)?$/.test(cell));
        tr.append(el("td", { class: numeric ? "num" : null }, fmt(cell, fractional[j] && typeof cell === "number" ? 3 : undefined)));
      });
      body.append(tr);
    });
    t.append(body);
    const wrap = el("div", { class: "table-wrap" }, t);
    if (spec.notes && spec.notes.length) wrap.append(el("ul", { class: "note" }, spec.notes.map(function (n) { return el("li", {}, n); })));
    return wrap;
  }

  // -- overview --------------------------------------------------------------------------------
  const PALETTE = ["#1f4e99", "#b3541e", "#2f7d32", "#7b3294", "#8c6d00", "#0b7a75", "#9d174d", "#4b5563"];

  function plot(series) {
    const width = 520, height = 280, left = 48, right = 150, top = 16, bottom = 40;
    const xs = [];
    series.lines.forEach(function (line) { line.points.forEach(function (p) { xs.push(p[0]); }); });
    const xmin = Math.min.apply(null, xs), xmax = Math.max.apply(null, xs);
    const sx = function (x) { return left + (xmax === xmin ? 0.5 : (x - xmin) / (xmax - xmin)) * (width - left - right); };
    const sy = function (y) { return top + (1 - y) * (height - top - bottom); };
    const root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img",
      "aria-label": series.metric + " by iteration, task " + series.task });
    for (let y = 0; y <= 1.0001; y += 0.25) {
      root.append(svg("line", { x1: left, x2: width - right, y1: sy(y), y2: sy(y), class: "grid" }));
      root.append(svg("text", { x: left - 6, y: sy(y) + 4, "text-anchor": "end", class: "tick", text: y.toFixed(2) }));
    }
    Array.from(new Set(xs)).sort(function (a, b) { return a - b; }).forEach(function (x) {
      root.append(svg("text", { x: sx(x), y: height - bottom + 16, "text-anchor": "middle", class: "tick", text: x }));
    });
    root.append(svg("text", { x: (left + width - right) / 2, y: height - 6, "text-anchor": "middle", class: "axis", text: "iteration" }));
    root.append(svg("text", { x: 12, y: top + (height - top - bottom) / 2, "text-anchor": "middle", class: "axis",
      transform: "rotate(-90 12 " + (top + (height - top - bottom) / 2) + ")", text: series.metric }));
    series.lines.forEach(function (line, i) {
      const colour = PALETTE[i % PALETTE.length];
      const path = line.points.map(function (p, j) { return (j ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1); }).join(" ");
      root.append(svg("path", { d: path, fill: "none", stroke: colour, "stroke-width": 2, "stroke-dasharray": i % 2 ? "6 3" : "none" }));
      line.points.forEach(function (p) {
        const dot = svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3.5, fill: colour });
        dot.append(svg("title", { text: line.name + ", iteration " + p[0] + ": " + p[1].toFixed(3) }));
        root.append(dot);
      });
      const ly = top + 14 + i * 18;
      root.append(svg("line", { x1: width - right + 12, x2: width - right + 34, y1: ly - 4, y2: ly - 4, stroke: colour, "stroke-width": 2,
        "stroke-dasharray": i % 2 ? "6 3" : "none" }));
      root.append(svg("text", { x: width - right + 40, y: ly, class: "legend", text: line.name }));
    });
    return el("figure", { class: "plot" }, root, el("figcaption", {}, "Task " + series.task + ": " + series.metric + " after each iteration (iteration 0 = the base model)."));
  }

  function renderOverview(main) {
    main.append(el("h2", {}, "Overview"));
    const facts = el("dl", { class: "facts" });
    const add = function (k, v) { facts.append(el("dt", {}, k), el("dd", {}, v)); };
    add("Run folder", meta.out + (meta.experiment !== "default" ? " (experiment " + meta.experiment + ")" : ""));
    add("Tasks", meta.tasks.join(", ") || "–");
    add("Test images", String(meta.samples));
    add("Evaluated models", meta.columns.map(function (c) { return c.label; }).join("; "));
    add("Training images with synthesis files", String(meta.train_images));
    if (meta.questions.length) add("Evaluation question", meta.questions.join(" / "));
    add("Report written", meta.generated);
    main.append(facts);
    const limited = meta.runs.filter(function (r) { return r.limit !== null && r.limit !== undefined; });
    if (limited.length) {
      main.append(el("p", { class: "warning", role: "note" }, "Runs made with --limit (" +
        limited.map(function (r) { return r.task + "/" + r.method + ": " + r.limit; }).join(", ") +
        ") use a subset of the images: their numbers are not comparable with the paper's."));
    }
    // the paper's tables first, then the figures, then every evaluation on its own
    if (meta.tables.length) main.append(el("h3", {}, "Tables"));
    meta.tables.forEach(function (t) { main.append(table(t)); });
    // the figures of `selfsynth.reports.plots` when it drew them; else a plain accuracy plot drawn here
    if (meta.plots.length || meta.series.length) {
      main.append(el("h3", {}, "Plots"));
      const plots = el("div", { class: "plots" });
      if (meta.plots.length) {
        meta.plots.forEach(function (p) { plots.append(el("figure", { class: "plot" }, el("img", { src: p.file, alt: "figure: " + p.title }))); });
      } else meta.series.forEach(function (s) { plots.append(plot(s)); });
      main.append(plots);
    }
    if (meta.evaluations) {
      main.append(el("h3", {}, "Every evaluation"));
      main.append(table(meta.evaluations));
    }
  }

  // -- samples ---------------------------------------------------------------------------------
  const SAMPLE_PAGE = 25;

  function shownColumns(p) {
    const out = [];
    meta.columns.forEach(function (c, i) {
      if (p.get("method") && c.method !== p.get("method")) return;
      if (p.get("iteration") && String(c.iteration) !== p.get("iteration")) return;
      out.push(i);
    });
    return out;
  }

  function cellsOf(i) {
    const chunk = received["samples:" + Math.floor(i / index.chunk_size)];
    return chunk ? chunk[i % index.chunk_size] : null;
  }

  function filterSamples(p, cols) {
    const task = p.get("task"), cls = p.get("class"), outcome = p.get("correct");
    const a = p.has("a") ? columnIndex[p.get("a")] : undefined, b = p.has("b") ? columnIndex[p.get("b")] : undefined;
    const change = p.get("change") || "any";
    const q = (p.get("q") || "").trim().toLowerCase();
    const only = p.get("sample");
    const taskNo = task ? meta.tasks.indexOf(task) : -1, classNo = cls ? meta.labels.indexOf(cls) : -1;
    const hits = [];
    for (let i = 0; i < index.uid.length; i++) {
      if (only && index.uid[i] !== only) continue;
      if (task && index.task[i] !== taskNo) continue;
      if (cls && index.label[i] !== classNo) continue;
      const marks = index.marks[i];
      let right = 0, wrong = 0;
      cols.forEach(function (c) { if (marks[c] === "1") right++; else if (marks[c] === "0") wrong++; });
      if (right + wrong === 0) continue;
      if (outcome === "correct" && wrong) continue;
      if (outcome === "wrong" && right) continue;
      if (outcome === "mixed" && !(right && wrong)) continue;
      if (a !== undefined && b !== undefined) {
        const ma = marks[a], mb = marks[b];
        if (ma === "-" || mb === "-" || ma === mb) continue;
        if (change === "gained" && ma !== "0") continue;
        if (change === "lost" && ma !== "1") continue;
      }
      if (q && !matchesText(i, q, cols)) continue;
      hits.push(i);
    }
    return hits;
  }

  function matchesText(i, q, cols) {
    if (index.id[i].toLowerCase().includes(q) || meta.labels[index.label[i]].toLowerCase().includes(q)) return true;
    const data = cellsOf(i);
    if (!data) return false;
    return cols.some(function (c) {
      const cell = data.cells[meta.columns[c].key];
      return cell && cell.answer.toLowerCase().includes(q);
    });
  }

  function allSampleChunks() {
    const n = Math.ceil(index.uid.length / index.chunk_size), jobs = [];
    for (let k = 0; k < n; k++) jobs.push(sampleChunk(k));
    return Promise.all(jobs);
  }

  function sampleFilters(p) {
    const form = el("form", { class: "filters", role: "search", "aria-label": "Filter test images",
      onsubmit: function (event) { event.preventDefault(); go({ q: form.querySelector("#f-q").value, page: null }); } });
    const update = function (key) { return function (event) { const u = { page: null, sample: null }; u[key] = event.target.value; go(u); }; };
    const taskNo = p.get("task") ? meta.tasks.indexOf(p.get("task")) : -1;
    const classes = taskNo < 0 ? meta.labels : meta.labels.filter(function (_, li) {
      for (let i = 0; i < index.uid.length; i++) if (index.label[i] === li && index.task[i] === taskNo) return true;
      return false;
    });
    const columns = [["", "—"]].concat(meta.columns.map(function (c) { return [c.key, c.label]; }));
    form.append(
      el("fieldset", {}, el("legend", {}, "Images"),
        select("f-task", "Task", p.get("task"), [["", "all tasks"]].concat(meta.tasks.map(function (t) { return [t, t]; })), update("task")),
        select("f-class", "Class", p.get("class"), [["", "all classes"]].concat(classes.slice().sort().map(function (c) { return [c, c]; })), update("class")),
        el("div", { class: "field grow" }, el("label", { for: "f-q" }, "Search id, class or answer text"),
          el("div", { class: "inline" }, el("input", { id: "f-q", name: "q", type: "search", value: p.get("q") || "" }),
            el("button", { type: "submit" }, "Search")))),
      el("fieldset", {}, el("legend", {}, "Models shown"),
        select("f-method", "Method", p.get("method"), [["", "all methods"]].concat(methods().map(function (m) { return [m, m]; })), update("method")),
        select("f-iteration", "Iteration", p.get("iteration"), [["", "all iterations"]].concat(iterations().map(function (i) { return [i, "iteration " + i]; })), update("iteration")),
        select("f-correct", "Outcome in the shown models", p.get("correct"), [["", "any"], ["correct", "correct in all"], ["wrong", "wrong in all"], ["mixed", "correct in some, wrong in others"]], update("correct"))),
      el("fieldset", {}, el("legend", {}, "Changed between two models"),
        select("f-a", "From", p.get("a"), columns, update("a")),
        select("f-b", "To", p.get("b"), columns, update("b")),
        select("f-change", "Change", p.get("change"), [["", "any change"], ["gained", "wrong → correct"], ["lost", "correct → wrong"]], update("change"))),
      el("div", { class: "actions" }, el("a", { href: "#view=samples", class: "button" }, "Clear all filters")));
    return form;
  }

  function renderSamples(main) {
    const p = params();
    const cols = shownColumns(p);
    main.append(el("h2", {}, "Samples"));
    main.append(el("p", { class: "muted" }, "Every test image with the answer of each evaluated model. Open an image to read the answers, " +
      "the judge's evidence claim by claim, and the reference concepts."));
    main.append(sampleFilters(p));
    const status = el("p", { id: "sample-count", role: "status" });
    main.append(status);
    const list = el("ol", { class: "samples", id: "sample-list" });
    main.append(list);
    const needText = (p.get("q") || "").trim() !== "";
    const ready = needText ? (status.textContent = "Searching the answers…", allSampleChunks()) : Promise.resolve();
    return ready.then(function () {
      const hits = filterSamples(p, cols);
      const pages = Math.max(1, Math.ceil(hits.length / SAMPLE_PAGE));
      const page = Math.min(pages, Math.max(1, parseInt(p.get("page") || "1", 10) || 1));
      const shown = hits.slice((page - 1) * SAMPLE_PAGE, page * SAMPLE_PAGE);
      status.textContent = hits.length + " of " + index.uid.length + " test images match" +
        (hits.length > SAMPLE_PAGE ? "; showing " + ((page - 1) * SAMPLE_PAGE + 1) + "–" + ((page - 1) * SAMPLE_PAGE + shown.length) : "") + ".";
      status.dataset.count = String(hits.length);
      if (p.get("sample")) {
        status.append(" Showing one image from a link; ",
          el("a", { href: hashWith({ sample: null, open: null, page: null }) }, "show all images with these filters"), ".");
      }
      list.dataset.shown = String(shown.length);
      list.setAttribute("start", String((page - 1) * SAMPLE_PAGE + 1));
      const opened = [];
      shown.forEach(function (i) {
        const item = sampleItem(i, cols);
        list.append(item.li);
        if (p.get("open") === index.uid[i] || p.get("sample") === index.uid[i] || p.get("open") === "all") opened.push(item);
      });
      if (hits.length > SAMPLE_PAGE) main.append(pager(page, pages, hits.length, "samples"));
      if (shown.length) {
        main.insertBefore(el("div", { class: "actions" },
          el("button", { type: "button", onclick: function () { go({ open: "all" }); } }, "Open all on this page"),
          el("button", { type: "button", onclick: function () { go({ open: null }); } }, "Close all")), list);
      }
      return Promise.all(opened.map(function (item) { item.details.open = true; return item.fill(); })).then(function () {
        if (opened.length === 1 && opened[0].details !== list.querySelector("details")) opened[0].details.scrollIntoView({ block: "start" });
      });
    });
  }

  function sampleItem(i, cols) {
    const uid = index.uid[i], label = meta.labels[index.label[i]];
    // one row per method, one compact mark per iteration (20 models stay on a few short lines)
    const marks = el("ul", { class: "marks", "aria-label": "Outcome per model" });
    const groups = [];
    cols.forEach(function (c) {
      const m = index.marks[i][c];
      if (m === "-") return;
      const column = meta.columns[c], name = column.method + (column.seed !== null && column.seed !== undefined ? " seed " + column.seed : "");
      if (!groups.length || groups[groups.length - 1].name !== name) groups.push({ name: name, items: [] });
      groups[groups.length - 1].items.push(el("span", { class: "mark " + (m === "1" ? "ok" : "bad"), title: column.label + ": " + (m === "1" ? "correct" : "wrong"),
        "aria-label": "iteration " + column.iteration + " " + (m === "1" ? "correct" : "wrong") }, "it" + column.iteration + (m === "1" ? " ✓" : " ✗")));
    });
    groups.forEach(function (g) { marks.append(el("li", { class: "mgroup" }, el("span", { class: "mname" }, g.name), g.items)); });
    const summary = el("summary", {},
      thumb(index.thumb[i], label),
      el("span", { class: "who" }, el("span", { class: "label" }, label),
        el("span", { class: "muted" }, "id " + index.id[i] + (meta.tasks.length > 1 ? " · " + meta.tasks[index.task[i]] : ""))),
      marks);
    const body = el("div", { class: "body" }, el("p", { class: "muted" }, "Loading…"));
    const details = el("details", { class: "sample", "data-uid": uid }, summary, body);
    let filled = null;
    const fill = function () {
      if (!filled) {
        filled = sampleChunk(Math.floor(i / index.chunk_size)).then(function () {
          body.replaceChildren(sampleBody(i, cols));
        }).catch(function (error) { body.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); });
      }
      return filled;
    };
    details.addEventListener("toggle", function () { if (details.open) fill(); });
    return { li: el("li", {}, details), details: details, fill: fill };
  }

  function sampleBody(i, cols) {
    const data = cellsOf(i);
    const wrap = el("div");
    const label = meta.labels[index.label[i]];
    wrap.append(el("p", {}, el("strong", {}, "True class: "), label, " · ", el("a", { href: hashWith({ view: "samples", sample: index.uid[i], open: index.uid[i] }, "") }, "link to this image")));
    if (data.question) wrap.append(el("p", {}, el("strong", {}, "Question: "), data.question));
    const refs = el("div", { class: "refs" }, el("strong", {}, "Reference concepts (what the image shows, used by the judge): "));
    if (data.concepts && data.concepts.length) {
      refs.append(el("ul", { class: "chips" }, data.concepts.map(function (c) { return el("li", {}, c); })));
    } else refs.append(el("span", { class: "muted" }, "none recorded (run `selfsynth judge` on the evaluation folders)"));
    wrap.append(refs);
    const grid = el("div", { class: "cells" });
    cols.forEach(function (c) {
      const key = meta.columns[c].key, cell = data.cells[key];
      if (!cell) return;
      grid.append(cellCard(meta.columns[c].label, cell));
    });
    wrap.append(grid);
    return wrap;
  }

  function cellCard(title, cell) {
    const card = el("section", { class: "cell " + (cell.match ? "is-ok" : "is-bad"), "aria-label": title });
    const scores = el("p", { class: "scores" }, mark(cell.match));
    if (cell.paper_match !== cell.match) scores.append(" ", el("span", { class: "muted" }, "(paper rule: " + (cell.paper_match ? "correct" : "wrong") + ")"));
    if ("ee" in cell) scores.append(" · EE ", fmt(cell.ee, 0), " · CS ", fmt(cell.cs, 2), cell.fs !== null && cell.fs !== undefined ? " · FS " + fmt(cell.fs, 1) : "");
    card.append(el("h4", {}, title), scores);
    card.append(el("p", { class: "answer" }, cell.answer === "" ? el("em", {}, "(empty answer)") : cell.answer));
    if (!("ee" in cell)) {
      card.append(el("p", { class: "muted" }, "Not judged."));
      return card;
    }
    if (cell.status && cell.status !== "scored") card.append(el("p", { class: "warning" }, "Judge: " + cell.status + (cell.error ? " (" + cell.error + ")" : "")));
    // claims as the judge recorded them; a plugin judge may record other evidence or none
    const claims = (Array.isArray(cell.claims) ? cell.claims : []).filter(function (c) { return c && typeof c === "object"; });
    const others = Array.isArray(cell.other_claims) ? cell.other_claims : [];
    if (claims.length || others.length) {
      const accepted = claims.filter(function (c) { return c.consistent; }).length;
      card.append(el("p", { class: "evidence-title" }, "Judge evidence: " + claims.length + " attribute claim" + (claims.length === 1 ? "" : "s") +
        ", " + accepted + " accepted, " + (claims.length - accepted) + " rejected"));
      const list = el("ul", { class: "claims" });
      claims.forEach(function (c) {
        const li = el("li", { class: "claim " + (c.consistent ? "accepted" : "rejected") },
          el("span", { class: "verdict" }, c.consistent ? "✓ accepted" : "✗ rejected"), " ", el("q", {}, c.claim), " ",
          el("span", { class: "why" }, "closest reference concept: “" + c.reference + "” (" + fmt(c.reference_similarity, 2) + ")" +
            (c.contrast ? "; closest other concept: “" + c.contrast + "” (" + fmt(c.contrast_similarity, 2) + ")" : "")));
        list.append(li);
      });
      others.forEach(function (text) {
        list.append(el("li", { class: "claim other" }, el("span", { class: "verdict" }, "– not an attribute"), " ", el("q", {}, text)));
      });
      card.append(list);
      if (claims.some(function (c) { return "contrast" in c; })) {
        card.append(el("p", { class: "note" }, "A claim is accepted when it is closer to one of this image's reference concepts than to any other concept of the task."));
      }
    } else if (cell.status === "scored") card.append(el("p", { class: "muted" }, "Judge evidence: no attribute claims in this answer."));
    if (cell.rationale) card.append(el("p", { class: "rationale" }, el("strong", {}, "Judge's rationale: "), cell.rationale));
    return card;
  }

  // -- synthesis -------------------------------------------------------------------------------
  const SYNTH_PAGE = 10;
  const REASONS = {
    label: "kept: names the label",
    near_label_appended: "kept, label sentence appended (the answer nearly names the label)",
    no_label: "dropped: does not name the label",
    empty: "dropped: empty answer",
    best_has_label: "kept: the best-scoring candidate names the label",
    best_lacks_label: "fallback: the best-scoring candidate does not name the label",
    random: "kept: a random candidate (no filter)",
    random_with_label: "kept: a random candidate that names the label",
    none_with_label: "fallback: no candidate names the label",
  };

  function renderSynthesis(main, sindex) {
    const p = params();
    main.append(el("h2", {}, "Synthesis"));
    main.append(el("p", { class: "muted" }, "Per training image, the self-synthesis pipeline: the base model's descriptions, the information-bottleneck " +
      "score of every class concept (kept ones marked), the rewritten answers kept or dropped, and in later iterations the candidates with their scores."));
    if (!sindex.uid.length) {
      main.append(el("p", {}, "This run folder has no synthesis files (methods that train write them under iter_<r>/data and the task's _shared folder)."));
      return Promise.resolve();
    }
    const update = function (key) { return function (event) { const u = { page: null }; u[key] = event.target.value; go(u); }; };
    const methodNames = Array.from(new Set([].concat.apply([], sindex.methods))).sort();
    const form = el("form", { class: "filters", role: "search", "aria-label": "Filter training images",
      onsubmit: function (event) { event.preventDefault(); go({ q: form.querySelector("#g-q").value, page: null }); } },
      el("fieldset", {}, el("legend", {}, "Training images"),
        select("g-task", "Task", p.get("task"), [["", "all tasks"]].concat(meta.tasks.map(function (t) { return [t, t]; })), update("task")),
        select("g-class", "Class", p.get("class"), [["", "all classes"]].concat(meta.labels.slice().sort().map(function (c) { return [c, c]; })), update("class")),
        select("g-method", "Method", p.get("method"), [["", "all methods"]].concat(methodNames.map(function (m) { return [m, m]; })), update("method")),
        el("div", { class: "field grow" }, el("label", { for: "g-q" }, "Search id or class"),
          el("div", { class: "inline" }, el("input", { id: "g-q", type: "search", value: p.get("q") || "" }), el("button", { type: "submit" }, "Search")))));
    main.append(form);
    const q = (p.get("q") || "").toLowerCase();
    const hits = [];
    for (let i = 0; i < sindex.uid.length; i++) {
      if (p.get("task") && meta.tasks[sindex.task[i]] !== p.get("task")) continue;
      if (p.get("class") && meta.labels[sindex.label[i]] !== p.get("class")) continue;
      if (p.get("method") && sindex.methods[i].indexOf(p.get("method")) < 0) continue;
      if (q && !(sindex.id[i].toLowerCase().includes(q) || meta.labels[sindex.label[i]].toLowerCase().includes(q))) continue;
      hits.push(i);
    }
    const pages = Math.max(1, Math.ceil(hits.length / SYNTH_PAGE));
    const page = Math.min(pages, Math.max(1, parseInt(p.get("page") || "1", 10) || 1));
    const shown = hits.slice((page - 1) * SYNTH_PAGE, page * SYNTH_PAGE);
    main.append(el("p", { id: "synth-count", role: "status", "data-count": hits.length }, hits.length + " of " + sindex.uid.length + " training images match."));
    const list = el("ol", { class: "samples", start: (page - 1) * SYNTH_PAGE + 1, "data-shown": shown.length });
    const jobs = [];
    shown.forEach(function (i) {
      const label = meta.labels[sindex.label[i]];
      const body = el("div", { class: "body" }, el("p", { class: "muted" }, "Loading…"));
      const details = el("details", { class: "sample", "data-uid": sindex.uid[i] },
        el("summary", {}, thumb(sindex.thumb[i], label),
          el("span", { class: "who" }, el("span", { class: "label" }, label), el("span", { class: "muted" }, "id " + sindex.id[i] +
            (sindex.methods[i].length ? " · synthesized by " + sindex.methods[i].join(", ") : "")))), body);
      let filled = null;
      const fill = function () {
        if (!filled) {
          filled = synthChunk(Math.floor(i / sindex.chunk_size)).then(function (chunk) {
            body.replaceChildren(synthBody(sindex, i, chunk[i % sindex.chunk_size], p.get("method")));
          }).catch(function (error) { body.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); });
        }
        return filled;
      };
      details.addEventListener("toggle", function () { if (details.open) fill(); });
      if (p.get("open") === sindex.uid[i] || p.get("open") === "all") { details.open = true; jobs.push(fill()); }
      list.append(el("li", {}, details));
    });
    main.append(list);
    if (hits.length > SYNTH_PAGE) main.append(pager(page, pages, hits.length, "training images"));
    return Promise.all(jobs);
  }

  function synthBody(sindex, i, data, methodFilter) {
    const wrap = el("div");
    const task = meta.tasks[sindex.task[i]];
    data.shared.forEach(function (shared) {
      wrap.append(el("h4", {}, "Concept selection (information bottleneck)" + (data.shared.length > 1 ? " · settings " + shared.digest : "")));
      const kept = shared.concepts.filter(function (c) { return c.kept; }).length;
      wrap.append(el("p", {}, "Each of the class's " + shared.concepts.length + " concepts is scored against this image's descriptions; a concept is kept when its score is above the threshold " +
        "(mean + k·std of this image's scores) = ", el("strong", {}, fmt(shared.threshold, 3)), ". Kept: " + kept +
        (shared.min_keep_filled ? " (fewer passed, so the top-scoring ones were taken up to the minimum)" : "") + "." +
        (shared.precision !== null && shared.precision !== undefined ? " Precision against the concepts truly visible in this image: " + fmt(shared.precision, 2) +
          " (a random pick: " + fmt(shared.random_precision, 2) + ")." : "")));
      const t = el("table", { class: "data concepts" }, el("caption", {}, "Class concepts by score"),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Concept"), el("th", { scope: "col" }, "IB score"),
          el("th", { scope: "col" }, "Above threshold"), el("th", { scope: "col" }, "Kept"))));
      const tb = el("tbody");
      shared.concepts.slice().sort(function (a, b) { return (b.score || 0) - (a.score || 0); }).forEach(function (c) {
        tb.append(el("tr", { class: c.kept ? "kept" : null }, el("td", {}, c.name), el("td", { class: "num" }, fmt(c.score, 3)),
          el("td", {}, c.above ? "yes" : "no"), el("td", {}, c.kept ? "✓ kept (#" + (c.rank + 1) + ")" : "–")));
      });
      t.append(tb);
      wrap.append(el("div", { class: "table-wrap" }, t));
      if (shared.descriptions.length) {
        const prompts = meta.describe_prompts[task + ":" + shared.digest] || [];
        const box = el("details", { class: "descriptions" }, el("summary", {}, "Descriptions sampled from the base model (" + shared.descriptions.length + ")"));
        const byPrompt = {};
        shared.descriptions.forEach(function (d) { (byPrompt[d.prompt] = byPrompt[d.prompt] || []).push(d); });
        Object.keys(byPrompt).sort(function (a, b) { return a - b; }).forEach(function (k) {
          box.append(el("p", { class: "prompt" }, el("strong", {}, "Prompt: "), prompts[k] !== undefined ? prompts[k] : "prompt " + k));
          box.append(el("ol", { class: "texts" }, byPrompt[k].map(function (d) { return el("li", {}, d.text === "" ? el("em", {}, "(empty)") : d.text); })));
        });
        wrap.append(box);
      }
    });
    data.steps.forEach(function (step) {
      if (methodFilter && step.method !== methodFilter) return;
      const who = step.method + (step.seed !== null && step.seed !== undefined ? " seed " + step.seed : "") + " · iteration " + step.iteration;
      if (step.stage === "rewrite") wrap.append(rewriteStep(who, step));
      else wrap.append(rejectStep(who, step));
    });
    return wrap;
  }

  function rewriteStep(who, step) {
    const section = el("section", { class: "step" }, el("h4", {}, who + ": answers rewritten with the label and concepts as hidden context"));
    const context = step.rows.length ? step.rows[0].concepts : [];
    if (context.length) section.append(el("div", { class: "refs" }, el("strong", {}, "Concepts in the hidden context: "),
      el("ul", { class: "chips" }, context.map(function (c) { return el("li", {}, c); }))));
    const t = el("table", { class: "data" }, el("caption", {}, "Rewritten answers: " + step.rows.filter(function (r) { return r.kept; }).length + " of " + step.rows.length + " kept"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Question"), el("th", { scope: "col" }, "Answer"), el("th", { scope: "col" }, "Outcome"))));
    const tb = el("tbody");
    step.rows.forEach(function (r) {
      const answer = el("td", { class: "answer" }, r.raw === "" ? el("em", {}, "(empty)") : r.raw);
      if (r.reason === "near_label_appended" && r.answer) answer.append(el("div", { class: "appended" }, el("strong", {}, "Trained on: "), r.answer));
      tb.append(el("tr", { class: r.kept ? "kept" : "dropped" }, el("td", {}, el("span", { class: "qtype" }, r.type), " ", r.question), answer,
        el("td", {}, mark(r.kept, REASONS[r.reason] || r.reason), r.ratio !== null && r.reason !== "label" ? el("div", { class: "muted" }, "label similarity " + fmt(r.ratio, 2)) : null)));
    });
    t.append(tb);
    section.append(el("div", { class: "table-wrap" }, t));
    return section;
  }

  function rejectStep(who, step) {
    const section = el("section", { class: "step" }, el("h4", {}, who + ": candidates from the previous model, one kept per question"));
    step.rows.forEach(function (r, q) {
      const box = el("div", { class: "question" }, el("p", {}, el("strong", {}, "Q" + (q + 1) + " "), el("span", { class: "qtype" }, r.type), " ", r.question));
      const list = el("ol", { class: "candidates" });
      r.candidates.forEach(function (text, k) {
        const chosen = k === r.chosen;
        // the chosen candidate is trained on only when it is kept; a rejected best one is marked apart
        const role = !chosen ? "" : r.kept ? " · ◀ kept" : " · ◀ " + (r.scores ? "best-scoring" : "picked") + ", not used";
        list.append(el("li", { class: chosen ? (r.kept ? "chosen" : "chosen-rejected") : null },
          el("span", { class: "cand-meta" }, (r.scores ? "score " + fmt(r.scores[k], 3) + " · " : "") + (r.has_label[k] ? "names the label" : "no label") + role),
          el("div", { class: "answer" }, text === "" ? el("em", {}, "(empty)") : text)));
      });
      box.append(list, el("p", {}, mark(r.kept, REASONS[r.reason] || r.reason)));
      if (!r.kept) box.append(el("p", { class: "appended" }, el("strong", {}, "Trained instead on: "), r.fallback_question, " → ", r.answer));
      section.append(box);
    });
    return section;
  }

  // -- regression ------------------------------------------------------------------------------
  function renderRegression(main) {
    main.append(el("h2", {}, "Regression"));
    if (!meta.regressions.length) {
      main.append(el("p", {}, "No regression result in this report. Write one with `selfsynth regress --baseline DIR --candidate DIR --out FILE` " +
        "and add it with `selfsynth report OUT_DIR --regress FILE`."));
      return;
    }
    meta.regressions.forEach(function (page) {
      const r = page.report, metric = r.metric;
      const section = el("section", { class: "regression" });
      section.append(el("h3", {}, (r.regressed ? "✗ Regressed" : "✓ No regression") + " · " + (r.task || "") + " · " + metric));
      const facts = el("dl", { class: "facts" });
      const add = function (k, v) { facts.append(el("dt", {}, k), el("dd", {}, v)); };
      add("Baseline", (page.baseline_column ? columnLabel(page.baseline_column[1]) + " — " : "") + r.baseline.folder + ": " + fmt(r.baseline[metric], 3));
      add("Candidate", (page.candidate_column ? columnLabel(page.candidate_column[1]) + " — " : "") + r.candidate.folder + ": " + fmt(r.candidate[metric], 3));
      add("Delta (candidate − baseline)", signed(r.delta) + "  [95% interval " + signed(r.delta_ci95[0]) + ", " + signed(r.delta_ci95[1]) + "]");
      add("Samples", "n = " + r.n + "; lost " + r.lost + " (correct → wrong), gained " + r.gained + " (wrong → correct)");
      add("McNemar p", fmt(r.mcnemar_p, 4));
      add("Verdict", r.reason || ("regressed when delta < " + (r.max_drop ? "−" + r.max_drop : "0") + (r.alpha !== null && r.alpha !== undefined ? " and p < " + r.alpha : "")));
      add("Source", page.file);
      section.append(facts);
      const both = page.baseline_column && page.candidate_column;
      [["lost", "Lost: correct in the baseline, wrong in the candidate", page.lost], ["gained", "Gained: wrong in the baseline, correct in the candidate", page.gained]].forEach(function (part) {
        section.append(el("h4", {}, part[1] + (part[2] ? " (" + part[2].length + ")" : "")));
        if (!part[2]) { section.append(el("p", { class: "muted" }, "The evaluation folders are not on this machine; only the counts are known.")); return; }
        if (both) {
          section.append(el("p", {}, el("a", { href: hashWith({ view: "samples", task: page.task, a: page.baseline_column[1], b: page.candidate_column[1], change: part[0] }, "") },
            "Show these " + part[2].length + " images in the Samples view")));
        }
        const list = el("ul", { class: "idlist" });
        part[2].slice(0, 500).forEach(function (id) {
          const uid = page.task + ":" + id;
          list.append(el("li", {}, el("a", { href: hashWith({ view: "samples", sample: uid, open: uid }, "") }, id)));
        });
        section.append(list);
        if (part[2].length > 500) section.append(el("p", { class: "muted" }, "… and " + (part[2].length - 500) + " more."));
      });
      if (r.classes_dropped && r.classes_dropped.length) {
        section.append(table({ title: "Classes whose accuracy dropped", columns: ["class", "n", "baseline", "candidate", "delta"],
          rows: r.classes_dropped.map(function (c) { return [c.label, c.n, c.baseline, c.candidate, c.delta]; }) }));
      }
      main.append(section);
    });
  }

  // -- router ----------------------------------------------------------------------------------
  let renderCount = 0;

  function render() {
    const ticket = ++renderCount;
    const view = params().get("view") || "overview";
    // a filter changed from the keyboard re-renders the view: give the focus back to that control
    const focused = document.activeElement && document.activeElement.id;
    const main = document.getElementById("main");
    const fresh = el("div", { class: "view", id: "view-" + view });
    document.body.dataset.state = "loading";
    document.querySelectorAll("nav a[data-view]").forEach(function (a) {
      if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    let done;
    try {
      if (view === "samples") done = renderSamples(fresh);
      else if (view === "synthesis") done = load("synth_index", "data/synth_index.js").then(function (s) { return renderSynthesis(fresh, s); });
      else if (view === "regression") done = renderRegression(fresh);
      else done = renderOverview(fresh);
    } catch (error) { done = Promise.reject(error); }
    main.replaceChildren(fresh);
    Promise.resolve(done).catch(function (error) {
      fresh.append(el("p", { class: "error", role: "alert" }, "Could not show this view: " + error.message));
      document.body.dataset.error = error.message;
    }).then(function () {
      if (ticket !== renderCount) return;
      document.body.dataset.view = view;
      document.body.dataset.state = "ready";
      document.body.dataset.renderMs = String(Math.round(performance.now()));
      const again = focused && document.getElementById(focused);
      if (again && again !== document.body) again.focus({ preventScroll: true });
    });
  }

  function start() {
    meta = received.meta;
    index = received.index;
    if (!meta || !index) {
      document.getElementById("main").replaceChildren(el("p", { class: "error", role: "alert" },
        "The report's data files (data/meta.js, data/index.js) did not load. Open index.html from the report folder written by `selfsynth report`."));
      document.body.dataset.state = "error";
      return;
    }
    meta.columns.forEach(function (c, i) { columnIndex[c.key] = i; });
    document.title = meta.title;
    document.getElementById("report-title").textContent = meta.title;
    document.getElementById("report-source").textContent = meta.out + " · written " + meta.generated;
    document.querySelectorAll("nav a[data-view]").forEach(function (a) {
      a.addEventListener("click", function () { document.getElementById("main").focus({ preventScroll: true }); });
    });
    window.addEventListener("hashchange", render);
    render();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
