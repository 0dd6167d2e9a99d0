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
  const section = (id, cls) => (plots[id] = el("div", { id: `plot-${id}`, class: `plot ${cls}` }));
  const trials = el("section", { id: "trials" });
  main.append(
    el("h1", {}, name), cards,
    section("race", "tall"),
    el("div", { class: "grid" }, section("best", ""), section("timeline", "")),
    section("parallel", ""), section("importance", "short"),
    el("h2", {}, "Trials"), trials,
  );
  let marker = null;
  let offset = 0;
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
      el("p", { class: "muted" }, `best first (highest fidelity, then value): ${offset + 1}–${last} of ${data.total} `, prev, " ", next),
      table(["trial", "status", "fidelity", "value", "work", "config"], rows),
    );
  }

  function showSummary(s) {
    const card = (label, value) => el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
    const best = s.best ? `${fmt(s.best.value)} (trial ${s.best.trial_id} at ${fmt(s.best.fidelity)})` : "–";
    cards.replaceChildren(
      card("optimizer", s.optimizer.name || "–"), card("trials", s.n_trials),
      card("running", s.status.running), card("paused", s.status.paused),
      card("completed", s.status.completed), card("failed", s.status.failed),
      card(`${s.fidelity || "fidelity"} trained`, fmt(s.work)), card(`best (${s.direction})`, best),
    );
  }

  poll(async () => {
    const url = marker === null ? apiStudy(name) : `${apiStudy(name)}?since=${marker}`;
    const data = await getJSON(url);
    if (!data.changed) return;
    marker = data.marker;
    showSummary(data.summary);
    for (const [view, fig] of Object.entries(data.figures)) {
      Plotly.react(plots[view], fig.data, fig.layout, plotConfig);
    }
    body.dataset.marker = marker;
    const imp = await getJSON(`${apiStudy(name)}/importance`);
    Plotly.react(plots.importance, imp.figure.data, imp.figure.layout, plotConfig);
    await showTrials();
    body.dataset.rendered = "yes";
  });
}

// -- a trial -------------------------------------------------------------------------------

function trialPage() {
  const name = body.dataset.study;
  const trialId = body.dataset.trial;
  crumbs(el("a", { href: studyUrl(name) }, name), el("span", {}, `trial ${trialId}`));
  const head = el("section", { id: "head", class: "cards" });
  const plot = el("div", { id: "plot-trial", class: "plot" });
  const config = el("section", { id: "config" });
  const checkpoints = el("section", { id: "checkpoints" });
  const decisions = el("section", { id: "decisions" });
  main.append(el("h1", {}, `Trial ${trialId}`), head, plot,
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
    head.replaceChildren(card("status", d.status), card(d.fidelity_name, d.fidelity), card("value", d.value),
      card("granted", d.target), card("work", d.work), card("stopped because", d.reason),
      card("wall seconds", d.wall_seconds), card("CPU seconds", d.cpu_seconds),
      card("devices", d.devices.length ? d.devices.join(", ") : "not assigned"));
    if (d.message) head.append(el("pre", { class: "message" }, d.message));
    Plotly.react(plot, data.figure.data, data.figure.layout, plotConfig);
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
