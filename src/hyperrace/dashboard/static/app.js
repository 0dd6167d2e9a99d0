// The hyperrace dashboard: plain JavaScript, no build step. Each page fetches JSON from /api and
// polls every few seconds; the study page asks for figures again only when the study's marker
// changed (a new decision, report or status), so an idle study costs one tiny request a poll.
"use strict";

const body = document.body;
const page = body.dataset.page;
const refreshMs = Number(body.dataset.refresh || 3000);
const main = document.getElementById("main");
const plotConfig = { responsive: true, displaylogo: false };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 1e-3 && Math.abs(value) < 1e5 ? value.toPrecision(4) : value.toExponential(3);
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function table(headers, rows) {
  const head = el("tr", {}, ...headers.map((h) => el("th", {}, h)));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows.map((cells) =>
    el("tr", {}, ...cells.map((c) => el("td", {}, c instanceof Node ? c : fmt(c)))))));
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) {
    const text = await response.text();
    throw new Error(`${response.status} ${url}: ${text}`);
  }
  return response.json();
}

function setLive(text, ok = true) {
  const live = document.getElementById("live");
  live.textContent = text;
  live.className = ok ? "ok" : "stale";
}

function poll(step) {
  const run = async () => {
    try {
      await step();
      setLive(`live · ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      setLive(`not updated: ${err.message}`, false);
    }
    setTimeout(run, refreshMs);
  };
  run();
}

// A panel waits for its data behind a spinner; draw() replaces the spinner with the figure.
function spinner() {
  return el("div", { class: "spinner", role: "status" }, el("span", { class: "wheel" }), "loading…");
}

// The value axis of these views can be switched to a log scale (logY); draw() applies it.
const valueViews = new Set(["race", "best", "trial"]);
let logY = false;

function draw(plot, view, fig) {
  plot.querySelector(":scope > .spinner")?.remove();
  const layout = { ...fig.layout };
  if (valueViews.has(view)) layout.yaxis = { ...(layout.yaxis || {}), type: logY ? "log" : "linear" };
  plot.dataset.figure = view;
  plot._hyperraceFigure = fig;
  return Plotly.react(plot, fig.data, layout, plotConfig);
}

function logSwitch(plots, metric) {
  const box = el("input", { type: "checkbox", id: "log-values" });
  box.checked = logY;
  box.onchange = () => {
    logY = box.checked;
    for (const [view, plot] of Object.entries(plots)) {
      if (plot._hyperraceFigure && valueViews.has(view)) draw(plot, view, plot._hyperraceFigure);
    }
  };
  return el("label", { class: "switch", id: "log-values-label" }, box, ` log scale for ${metric}`);
}

const studyUrl = (name) => `/studies/${encodeURIComponent(name)}`;
const apiStudy = (name) => `/api/studies/${encodeURIComponent(name)}`;

function crumbs(...parts) {
  document.getElementById("crumbs").replaceChildren(...parts.flatMap((p) => [" / ", p]));
}

// -- the studies ---------------------------------------------------------------------------

function studiesPage() {
  const holder = el("section", { id: "studies" });
  main.append(el("h1", {}, "Studies"), holder);
  poll(async () => {
    const studies = await getJSON("/api/studies");
    if (!studies.length) {
      holder.replaceChildren(el("p", {}, "No studies in this storage yet."));
      return;
    }
    holder.replaceChildren(table(
      ["study", "direction", "trials", "running", "completed", "failed", "best value", "created"],
      studies.map((s) => [
        el("a", { href: studyUrl(s.name) }, s.name), s.direction, s.n_trials, s.n_running,
        s.n_completed, s.n_failed, s.best_value, new Date(s.created * 1000).toLocaleString(),
      ]),
    ));
  });
}

// -- a study -------------------------------------------------------------------------------

function studyPage() {
  const name = body.dataset.study;
  crumbs(el("a", { href: studyUrl(name) }, name));
  const cards = el("section", { id: "summary", class: "cards" });
  const plots = {};
  const section = (id, cls) => (plots[id] = el("div", { id: `plot-${id}`, class: `plot ${cls}` }, spinner()));
  const trials = el("section", { id: "trials" }, spinner());
  const colour = el("select", { id: "race-colour" },
    el("option", { value: "auto" }, "how far each trial got (or its value)"),
    el("option", { value: "rung" }, "how far each trial got"),
    el("option", { value: "value" }, "each trial's last value"),
    el("option", { value: "time" }, "when each run began"));
  const controls = el("div", { class: "controls", id: "controls" },
    el("label", {}, "colour the race by ", colour), el("span", { id: "log-switch" }));
  main.append(
    el("h1", {}, name), cards, controls,
    section("race", "tall"),
    el("div", { class: "grid" }, section("best", ""), section("timeline", "")),
    section("parallel", ""), section("importance", "short"),
    el("h2", {}, "Trials"), trials,
  );
  let marker = null;
  let offset = 0;
  let metric = "value";
  const limit = 50;

  async function showTrials() {
    const data = await getJSON(`${apiStudy(name)}/trials?offset=${offset}&limit=${limit}&order=best`);
    const rows = data.trials.map((t) => [
      el("a", { href: `${studyUrl(name)}/trials/${t.trial_id}` }, `${t.trial_id}`),
      el("span", { class: `status ${t.status}` }, t.status), t.fidelity, t.value, t.work,
      Object.entries(t.config).map(([k, v]) => `${k}=${fmt(v)}`).join(", "),
    ]);
    const prev = el("button", { type: "button" }, "previous");
    const next = el("button", { type: "button" }, "next");
    prev.disabled = offset === 0;
    next.disabled = offset + limit >= data.total;
    prev.onclick = () => { offset = Math.max(0, offset - limit); showTrials(); };
    next.onclick = () => { offset += limit; showTrials(); };
    const last = Math.min(offset + limit, data.total);
    trials.replaceChildren(
      el("p", { class: "muted" }, `best first (highest fidelity, then ${metric}): ${offset + 1}–${last} of ${data.total} `, prev, " ", next),
      table(["trial", "status", "fidelity", metric, "work", "config"], rows),
    );
  }

  function showSummary(s) {
    const card = (label, value) => el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
    const best = s.best ? `${fmt(s.best.value)} (trial ${s.best.trial_id} at ${fmt(s.best.fidelity)})` : "–";
    cards.replaceChildren(
      card("optimizer", s.optimizer.name || "–"), card("trials", s.n_trials),
      card("running", s.status.running), card("paused", s.status.paused),
      card("completed", s.status.completed), card("failed", s.status.failed),
      card(`${s.fidelity || "fidelity"} trained`, fmt(s.work)), card(`best ${s.metric} (${s.direction})`, best),
    );
  }

  async function step() {
    const query = new URLSearchParams({ colour: colour.value });
    if (marker !== null) query.set("since", marker);
    const data = await getJSON(`${apiStudy(name)}?${query}`);
    if (!data.changed) return;
    marker = data.marker;
    if (metric !== data.summary.metric || !document.getElementById("log-values")) {
      metric = data.summary.metric;
      document.getElementById("log-switch").replaceChildren(logSwitch(plots, metric));
    }
    showSummary(data.summary);
    for (const [view, fig] of Object.entries(data.figures)) draw(plots[view], view, fig);
    body.dataset.marker = marker;
    const imp = await getJSON(`${apiStudy(name)}/importance`);
    draw(plots.importance, "importance", imp.figure);
    await showTrials();
    body.dataset.rendered = "yes";
  }

  colour.onchange = () => {
    marker = null;
    plots.race.append(spinner());
    step().catch((err) => setLive(`not updated: ${err.message}`, false));
  };
  poll(step);
}

// -- a trial -------------------------------------------------------------------------------

function trialPage() {
  const name = body.dataset.study;
  const trialId = body.dataset.trial;
  crumbs(el("a", { href: studyUrl(name) }, name), el("span", {}, `trial ${trialId}`));
  const head = el("section", { id: "head", class: "cards" });
  const plot = el("div", { id: "plot-trial", class: "plot" }, spinner());
  const controls = el("div", { class: "controls", id: "controls" });
  const config = el("section", { id: "config" });
  const checkpoints = el("section", { id: "checkpoints" });
  const decisions = el("section", { id: "decisions" });
  main.append(el("h1", {}, `Trial ${trialId}`), head, controls, plot,
    el("div", { class: "grid" }, el("div", {}, el("h2", {}, "Configuration"), config),
      el("div", {}, el("h2", {}, "Checkpoints"), checkpoints)),
    el("h2", {}, "Decisions that touched it"), decisions);
  let marker = null;
  poll(async () => {
    const data = await getJSON(`${apiStudy(name)}/trials/${trialId}`);
    if (data.marker === marker) return;
    marker = data.marker;
    const d = data.detail;
    const card = (label, value) => el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, fmt(value)));
    if (!controls.firstChild) controls.append(logSwitch({ trial: plot }, d.metric));
    head.replaceChildren(card("status", d.status), card(d.fidelity_name, d.fidelity), card(d.metric, d.value),
      card("granted", d.target), card("work", d.work), card("stopped because", d.reason),
      card("wall seconds", d.wall_seconds), card("CPU seconds", d.cpu_seconds),
      card("devices", d.devices.length ? d.devices.join(", ") : "not assigned"));
    if (d.message) head.append(el("pre", { class: "message" }, d.message));
    draw(plot, "trial", data.figure);
    config.replaceChildren(table(["hyperparameter", "value"], Object.entries(d.config)));
    const c = data.checkpoints;
    checkpoints.replaceChildren(
      el("p", {}, `newest checkpoint at ${d.fidelity_name} ${fmt(c.fidelity)}`),
      el("p", { class: "muted" }, c.folder ? `folder: ${c.folder}` : "no checkpoint folder recorded"),
      table(["file", "bytes"], c.files.map((f) => [f.name, f.bytes])),
    );
    decisions.replaceChildren(table(
      ["decision", "kind", "from", "to", "optimizer", "seconds after start", "recorded by the optimizer"],
      d.decisions.map((x) => [x.index, x.kind, x.start, x.stop, x.optimizer, x.seconds,
        Object.entries(x.info).map(([k, v]) => `${k}=${fmt(v)}`).join(", ") || "–"]),
    ));
    body.dataset.rendered = "yes";
  });
}

({ studies: studiesPage, study: studyPage, trial: trialPage })[page]();
