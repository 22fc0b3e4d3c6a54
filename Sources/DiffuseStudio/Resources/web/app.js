// Diffuse Studio page. Every user-supplied or server-supplied text goes into the page with textContent or
// option.text, never innerHTML, so prompts and model names cannot inject markup.
"use strict";
const $ = (id) => document.getElementById(id);
const form = $("settings");
const AXES = ["seed", "steps", "cfg_scale", "sampler", "prompt"];

async function api(path, options = {}) {
  const r = await fetch(path, { credentials: "same-origin", ...options,
    headers: { "Content-Type": "application/json", ...(options.headers || {}) } });
  const body = r.headers.get("Content-Type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(body?.error?.message || `HTTP ${r.status}`);
  return body;
}

function settings() {
  const p = {};
  for (const el of form.elements) {
    if (!el.name || el.value === "" || el.disabled) continue;
    p[el.name] = el.type === "number" ? Number(el.value) : el.value;
  }
  return p;
}

function applySettings(s) {
  for (const [k, v] of Object.entries(s)) if (form.elements[k] !== undefined && v !== null) form.elements[k].value = v;
}

function figure(url, caption, onClick) {
  const f = document.createElement("figure");
  const img = document.createElement("img");
  img.src = url;
  img.alt = caption;
  const c = document.createElement("figcaption");
  c.textContent = caption;
  f.append(img, c);
  if (onClick) f.addEventListener("click", onClick);
  return f;
}

// Runs one job and follows its events; resolves with the final message.
function runJob(params, onStep) {
  return api("/api/jobs", { method: "POST", body: JSON.stringify(params) }).then((job) => new Promise((resolve) => {
    const source = new EventSource(`/api/jobs/${job.id}/events`);
    source.onmessage = (m) => {
      const e = JSON.parse(m.data);
      if (e.type === "step" && onStep) onStep(e, job.id);
      if (e.type === "done") { source.close(); resolve(e); }
    };
    source.onerror = () => { source.close(); resolve({ status: "failed", error: "event stream lost", images: [] }); };
    runJob.current = job.id;
  }));
}

// ---- Create: the live view ----
async function generate() {
  $("generate").disabled = true;
  $("cancel").disabled = false;
  $("live-error").textContent = "";
  $("live-warning").textContent = "";
  $("live-step").textContent = "queued";
  try {
    const done = await runJob(settings(), (e) => {
      $("live-progress").value = e.step / e.total;
      $("live-step").textContent = `image ${e.image}/${e.image_count} · step ${e.step}/${e.total} · ${e.elapsed.toFixed(1)} s`;
      if (e.preview) $("live-image").src = "data:image/png;base64," + e.preview;
    });
    $("live-step").textContent = `${done.status} · seeds ${done.seeds.join(", ")}`;
    if (done.error) $("live-error").textContent = done.error;
    if (done.warnings?.length) $("live-warning").textContent = done.warnings.join(" ");
    for (const im of done.images) {
      $("live-image").src = im.url;
      $("results").prepend(figure(im.url, `seed ${im.seed}`));
    }
  } catch (err) {
    $("live-error").textContent = err.message;
    $("live-step").textContent = "error";
  } finally {
    $("generate").disabled = false;
    $("cancel").disabled = true;
  }
}

// ---- Compare: X/Y grid ----
function parseValues(key, text) {
  return text.split(",").map((v) => v.trim()).filter((v) => v !== "")
    .map((v) => (key === "sampler" || key === "prompt") ? v : Number(v));
}

async function runGrid() {
  const xKey = $("x-key").value, yKey = $("y-key").value;
  const xs = parseValues(xKey, $("x-values").value);
  const ys = yKey ? parseValues(yKey, $("y-values").value) : [null];
  const grid = $("grid");
  grid.replaceChildren();
  const head = grid.insertRow();
  head.appendChild(document.createElement("th"));
  for (const x of xs) { const th = document.createElement("th"); th.textContent = `${xKey}: ${x}`; head.appendChild(th); }
  const base = settings();
  if (base.seed === undefined || base.seed === -1) base.seed = Math.floor(Math.random() * 2 ** 32);
  base.batch_size = 1;
  let n = 0;
  for (const y of ys) {
    const row = grid.insertRow();
    const th = document.createElement("th");
    th.textContent = yKey ? `${yKey}: ${y}` : "";
    row.appendChild(th);
    for (const x of xs) {
      const cell = row.insertCell();
      const p = { ...base, [xKey]: x };
      if (yKey) p[yKey] = y;
      $("grid-status").textContent = `${++n}/${xs.length * ys.length}`;
      try {
        const done = await runJob(p, (e) => {
          if (e.preview) { cell.replaceChildren(figure("data:image/png;base64," + e.preview, `step ${e.step}/${e.total}`)); }
        });
        cell.replaceChildren(done.images[0] ? figure(done.images[0].url, `seed ${done.images[0].seed}`)
                                            : document.createTextNode(done.error || done.status));
      } catch (err) { cell.textContent = err.message; }
    }
  }
  $("grid-status").textContent = "done";
}

// ---- Gallery ----
let selected = null;
async function loadGallery() {
  const q = encodeURIComponent($("search").value);
  const list = await api(`/api/gallery?limit=100&q=${q}`);
  $("gallery-items").replaceChildren(...list.images.map((e) => figure(e.url, e.prompt, () => openDetail(e))));
}

function openDetail(e) {
  selected = e;
  $("detail").hidden = false;
  $("detail-image").src = e.url;
  $("detail-text").textContent = `${e.infotext}\n\nmodel ${e.model} · ${e.duration.toFixed(2)} s · ${new Date(e.created * 1000).toLocaleString()}`;
}

function useSettings() {
  const e = selected;
  form.elements.model.value = e.model;
  applyModel(e.model);
  applySettings({ prompt: e.prompt, negative_prompt: e.negative_prompt, model: e.model, steps: e.steps,
                  cfg_scale: e.cfg_scale, seed: e.seed, width: e.width, height: e.height });
  const s = [...form.elements.sampler.options].find((o) => o.text === e.sampler);
  if (s) form.elements.sampler.value = s.value;
  show("create");
}

function show(view) {
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.view === view);
  for (const v of document.querySelectorAll(".view")) v.classList.toggle("active", v.id === view);
  if (view === "gallery") loadGallery().catch((err) => { $("gallery-items").textContent = err.message; });
}

// Offers only what the chosen model honours (the built-in model: DDIM, one size, no negative prompt) and
// its default steps / CFG, so a request from the form is not refused.
const models = {};
function applyModel(name) {
  const m = models[name];
  if (!m) return;
  form.elements.steps.value = m.default_steps;
  form.elements.cfg_scale.value = m.default_cfg_scale;
  form.elements.negative_prompt.disabled = !m.negative_prompt;
  for (const side of ["width", "height"]) {
    form.elements[side].disabled = Boolean(m.size);
    form.elements[side].placeholder = m.size ? String(m.size) : "model";
  }
  for (const o of form.elements.sampler.options) o.disabled = Boolean(m.samplers) && o.value !== "" && !m.samplers.includes(o.value);
  if (form.elements.sampler.selectedOptions[0]?.disabled) form.elements.sampler.value = "";
}

async function init() {
  const info = await api("/api/models");
  for (const s of info.samplers) form.elements.sampler.add(new Option(s.label, s.name));
  for (const m of info.models) {
    models[m.name] = m;
    form.elements.model.add(new Option(m.name, m.name, false, m.name === info.default));
  }
  applyModel(form.elements.model.value);
  form.elements.model.addEventListener("change", () => applyModel(form.elements.model.value));
  for (const key of AXES) { $("x-key").add(new Option(key, key)); $("y-key").add(new Option(key, key)); }
  $("y-key").add(new Option("(none)", ""), 0);
  $("y-key").value = "";
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.view));
  $("generate").addEventListener("click", generate);
  $("cancel").addEventListener("click", () => runJob.current && api(`/api/jobs/${runJob.current}`, { method: "DELETE" }));
  $("run-grid").addEventListener("click", () => runGrid().catch((err) => { $("grid-status").textContent = err.message; }));
  $("refresh").addEventListener("click", loadGallery);
  $("search").addEventListener("change", loadGallery);
  $("use-settings").addEventListener("click", useSettings);
  $("close-detail").addEventListener("click", () => { $("detail").hidden = true; });
  $("delete-image").addEventListener("click", async () => {
    await api(`/api/gallery/${selected.id}`, { method: "DELETE" });
    $("detail").hidden = true;
    loadGallery();
  });
}
init().catch((err) => { document.body.prepend(Object.assign(document.createElement("p"), { textContent: err.message, className: "error" })); });
