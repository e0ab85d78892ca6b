// curvax explore: the surface of a 2-D problem, the gradient compass and the curvature under
// the mouse, and balls that follow the real iterates of each method from a clicked start.
// Everything is computed by the curvax server this page came from (/api/...); the page
// only draws. No external resources.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  catalog: null, problem: null, surface: null, field: null, hover: null, pointBusy: false,
  pointNext: null, runs: [], start: null, iter: 0, playing: false, last: 0, prepared: {},
};
window.curvaxExplorer = state;  // read by the browser tests

// ---------------------------------------------------------------- helpers

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = kind;
}

function fmt(v) {
  if (v === null || v === undefined) return "n/a";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(5);
}

function methodInfo(name) {
  return state.catalog.methods.find((m) => m.name === name);
}

function selectedMethods() {
  return [...document.querySelectorAll("#methods input:checked")].map((el) => el.value);
}

function toCanvas(x, y) {
  const p = state.problem, c = $("overlay");
  return [(x - p.lo[0]) / (p.hi[0] - p.lo[0]) * c.width, c.height - (y - p.lo[1]) / (p.hi[1] - p.lo[1]) * c.height];
}

function toWorld(px, py) {
  const p = state.problem, c = $("overlay");
  return [p.lo[0] + px / c.width * (p.hi[0] - p.lo[0]), p.lo[1] + (c.height - py) / c.height * (p.hi[1] - p.lo[1])];
}

// ---------------------------------------------------------------- the surface

// Perceptually ordered map (viridis stops), dark = low.
const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function colour(t) {
  const s = Math.min(Math.max(t, 0), 1) * (STOPS.length - 1), i = Math.min(Math.floor(s), STOPS.length - 2);
  const u = s - i, a = STOPS[i], b = STOPS[i + 1];
  return [a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]), a[2] + u * (b[2] - a[2])];
}

const BANDS = 18;
function drawSurface() {
  const s = state.surface, c = $("surface"), ctx = c.getContext("2d");
  const W = c.width, H = c.height, n = s.n, lo = s.min, span = Math.log1p(Math.max(s.max - s.min, 1e-300));
  const level = new Float32Array(W * H);
  for (let py = 0; py < H; py++) {
    const gy = (H - 1 - py) / (H - 1) * (n - 1), j = Math.min(Math.floor(gy), n - 2), v = gy - j;
    for (let px = 0; px < W; px++) {
      const gx = px / (W - 1) * (n - 1), i = Math.min(Math.floor(gx), n - 2), u = gx - i;
      const q = [s.values[j * n + i], s.values[j * n + i + 1], s.values[(j + 1) * n + i], s.values[(j + 1) * n + i + 1]];
      if (q.some((z) => z === null)) { level[py * W + px] = NaN; continue; }
      const f = (1 - v) * ((1 - u) * q[0] + u * q[1]) + v * ((1 - u) * q[2] + u * q[3]);
      level[py * W + px] = Math.log1p(Math.max(f - lo, 0)) / span;
    }
  }
  const image = ctx.createImageData(W, H);
  for (let k = 0; k < W * H; k++) {
    const t = level[k], o = 4 * k;
    if (Number.isNaN(t)) { image.data.set([200, 200, 200, 255], o); continue; }
    const band = Math.min(Math.floor(t * BANDS), BANDS - 1);
    const right = k % W < W - 1 ? level[k + 1] : t, below = k < W * (H - 1) ? level[k + W] : t;
    const edge = Math.min(Math.floor(right * BANDS), BANDS - 1) !== band ||
                 Math.min(Math.floor(below * BANDS), BANDS - 1) !== band;
    const rgb = colour((band + 0.5) / BANDS).map((x) => (edge ? 0.55 * x : x));
    image.data.set([rgb[0], rgb[1], rgb[2], 255], o);
  }
  ctx.putImageData(image, 0, 0);
}

// ---------------------------------------------------------------- the overlay

function marker(ctx, x, y, kind) {
  const [px, py] = toCanvas(x, y);
  ctx.save();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#fff";
  ctx.beginPath();
  if (kind === "minimum") { ctx.arc(px, py, 5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke(); }
  if (kind === "saddle") {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 3;
    ctx.moveTo(px - 6, py - 6); ctx.lineTo(px + 6, py + 6); ctx.moveTo(px + 6, py - 6); ctx.lineTo(px - 6, py + 6);
    ctx.stroke();
  }
  if (kind === "maximum") { ctx.moveTo(px, py - 7); ctx.lineTo(px + 6, py + 5); ctx.lineTo(px - 6, py + 5);
    ctx.closePath(); ctx.fill(); ctx.stroke(); }
  ctx.restore();
}

function arrow(ctx, x0, y0, x1, y1, colourName, width) {
  const a = Math.atan2(y1 - y0, x1 - x0);
  ctx.save();
  ctx.strokeStyle = ctx.fillStyle = colourName;
  ctx.lineWidth = width;
  ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  ctx.beginPath(); ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - 12 * Math.cos(a - 0.4), y1 - 12 * Math.sin(a - 0.4));
  ctx.lineTo(x1 - 12 * Math.cos(a + 0.4), y1 - 12 * Math.sin(a + 0.4));
  ctx.closePath(); ctx.fill();
  ctx.restore();
}

// Contour segments of values on a (m x m) grid at `level` (marching squares, no saddle disambiguation).
function contour(ctx, values, m, level, toPx) {
  const edge = (a, b, va, vb) => { const t = (level - va) / (vb - va); return [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]; };
  ctx.beginPath();
  for (let j = 0; j < m - 1; j++) {
    for (let i = 0; i < m - 1; i++) {
      const c = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]];
      const v = c.map(([a, b]) => values[b * m + a]);
      const pts = [];
      for (let e = 0; e < 4; e++) {
        const va = v[e], vb = v[(e + 1) % 4];
        if ((va < level) !== (vb < level)) pts.push(edge(c[e], c[(e + 1) % 4], va, vb));
      }
      for (let k = 0; k + 1 < pts.length; k += 2) {
        const [ax, ay] = toPx(pts[k]), [bx, by] = toPx(pts[k + 1]);
        ctx.moveTo(ax, ay); ctx.lineTo(bx, by);
      }
    }
  }
  ctx.stroke();
}

function drawHover(ctx) {
  const h = state.hover;
  if (!h || h.problem !== state.problem.name) return;
  const [px, py] = toCanvas(h.x[0], h.x[1]);
  const p = state.problem, radius = 0.12 * Math.min(p.hi[0] - p.lo[0], p.hi[1] - p.lo[1]);
  // The quadratic Taylor model m(d) = f + g.d + d.H d / 2 on a local grid, its level sets.
  const m = 41, values = new Float64Array(m * m), H = h.hessian, g = h.grad;
  if (g.every((v) => v !== null) && H.flat().every((v) => v !== null)) {
    for (let j = 0; j < m; j++) for (let i = 0; i < m; i++) {
      const d0 = (i / (m - 1) * 2 - 1) * radius, d1 = (j / (m - 1) * 2 - 1) * radius;
      values[j * m + i] = g[0] * d0 + g[1] * d1 + 0.5 * (H[0][0] * d0 * d0 + 2 * H[0][1] * d0 * d1 + H[1][1] * d1 * d1);
    }
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    ctx.save();
    ctx.strokeStyle = "rgba(255,255,255,0.85)";
    ctx.lineWidth = 1;
    const toPx = ([i, j]) => toCanvas(h.x[0] + (i / (m - 1) * 2 - 1) * radius, h.x[1] + (j / (m - 1) * 2 - 1) * radius);
    for (let k = 1; k < 8; k++) contour(ctx, values, m, lo + (hi - lo) * k / 8, toPx);
    ctx.restore();
  }
  // Eigen-directions, scaled by |eigenvalue|: blue curving up, orange curving down.
  const big = Math.max(...h.eigenvalues.map((v) => Math.abs(v ?? 0)), 1e-300);
  h.eigenvectors.forEach((vec, k) => {
    const lam = h.eigenvalues[k];
    if (lam === null || vec.some((v) => v === null)) return;
    const len = 10 + 50 * Math.abs(lam) / big;
    ctx.save();
    ctx.strokeStyle = lam >= 0 ? "#4aa3ff" : "#ff9d2e";
    ctx.lineWidth = 4;
    ctx.beginPath();
    ctx.moveTo(px - len * vec[0], py + len * vec[1]);
    ctx.lineTo(px + len * vec[0], py - len * vec[1]);
    ctx.stroke();
    ctx.restore();
  });
  // The Newton step to the model's centre.
  if (h.newton) {
    const [nx, ny] = toCanvas(h.newton[0], h.newton[1]);
    ctx.save();
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(px, py); ctx.lineTo(nx, ny); ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath(); ctx.arc(nx, ny, 5, 0, 2 * Math.PI); ctx.stroke();
    ctx.restore();
  }
  // The compass: the gradient points uphill.
  if (h.grad_norm) {
    arrow(ctx, px, py, px + 70 * h.grad[0] / h.grad_norm, py - 70 * h.grad[1] / h.grad_norm, "#e00000", 3);
  }
}

function drawBalls(ctx) {
  for (const run of state.runs) {
    const colourName = methodInfo(run.method).color, k = Math.min(Math.floor(state.iter), run.nit);
    ctx.save();
    ctx.strokeStyle = colourName;
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (let i = 0; i <= k; i++) {
      if (run.x[i][0] === null || run.x[i][1] === null) break;
      const [qx, qy] = toCanvas(run.x[i][0], run.x[i][1]);
      i === 0 ? ctx.moveTo(qx, qy) : ctx.lineTo(qx, qy);
    }
    ctx.stroke();
    const at = run.x[k];
    if (at[0] !== null && at[1] !== null) {
      const [bx, by] = toCanvas(at[0], at[1]);
      run.canvas = [bx, by];
      ctx.fillStyle = colourName;
      ctx.strokeStyle = "#fff";
      ctx.beginPath(); ctx.arc(bx, by, 7, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    }
    ctx.restore();
  }
}

function draw() {
  const c = $("overlay"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  if (!state.problem) return;
  for (const x of state.problem.minima) marker(ctx, x[0], x[1], "minimum");
  for (const x of state.problem.saddles) marker(ctx, x[0], x[1], "saddle");
  for (const x of state.problem.maxima) marker(ctx, x[0], x[1], "maximum");
  drawBalls(ctx);
  drawHover(ctx);
}

// ---------------------------------------------------------------- readouts

function readout() {
  const body = $("readout").querySelector("tbody");
  body.replaceChildren(...state.runs.map((run) => {
    const k = Math.min(Math.floor(state.iter), run.nit), tr = document.createElement("tr");
    tr.dataset.method = run.method;
    const done = k === run.nit;
    tr.title = done ? run.message : "";
    const cells = [`<span class="swatch" style="background:${methodInfo(run.method).color}"></span>`,
                   run.method + (done && run.status !== 0 ? " *" : ""), String(k), fmt(run.f[k]), fmt(run.grad_norm[k])];
    cells.forEach((html, i) => {
      const td = document.createElement("td");
      td.className = ["sw", "name", "k", "f", "g"][i];
      td.innerHTML = i === 0 ? html : "";
      if (i > 0) td.textContent = html;
      tr.appendChild(td);
    });
    return tr;
  }));
}

function describePoint() {
  const h = state.hover;
  if (!h) { $("point").textContent = ""; return; }
  const ev = h.eigenvalues.map(fmt).join(", ");
  $("point").textContent = `x = (${fmt(h.x[0])}, ${fmt(h.x[1])})   f = ${fmt(h.f)}\n` +
    `gradient = (${fmt(h.grad[0])}, ${fmt(h.grad[1])}), |g| = ${fmt(h.grad_norm)}\n` +
    `Hessian eigenvalues: ${ev}: a ${h.shape} (${h.label})` + (h.newton ? `\nNewton step to (${fmt(h.newton[0])}, ${fmt(h.newton[1])})` : "");
  $("point").dataset.shape = h.shape;
}

// ---------------------------------------------------------------- animation

function speed() {  // iterations per second, 1 .. 300 on a log scale
  return Math.round(Math.exp(Math.log(300) * $("speed").value / 100));
}

function frame(now) {
  if (!state.playing) return;
  const dt = state.last ? (now - state.last) / 1000 : 0;
  state.last = now;
  const end = Math.max(0, ...state.runs.map((r) => r.nit));
  state.iter = Math.min(state.iter + speed() * dt, end);
  draw();
  readout();
  if (state.iter >= end) {
    state.playing = false;
    status(`done: ${state.runs.map((r) => `${r.method} ${r.nit} it`).join(", ")}`, "done");
    return;
  }
  requestAnimationFrame(frame);
}

function play() {
  state.iter = 0;
  state.last = 0;
  state.playing = true;
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------- actions

function shareURL() {
  const params = new URLSearchParams();
  params.set("problem", state.problem.name);
  params.set("methods", selectedMethods().join(","));
  params.set("lr", $("learning-rate").value);
  params.set("momentum", $("momentum").value);
  if (state.start) params.set("start", state.start.map((v) => v.toPrecision(6)).join(","));
  const url = `${location.pathname}?${params}`;
  history.replaceState(null, "", url);
  $("share").href = url;
}

async function prepare() {
  const methods = selectedMethods().filter((m) => !(state.prepared[state.problem.name] || new Set()).has(m));
  if (!methods.length) return;
  status(`compiling ${methods.join(", ")} on ${state.problem.name} (once per problem)...`, "compiling");
  const name = state.problem.name;
  const answer = await api("/api/prepare", {problem: name, methods});
  state.prepared[name] = new Set([...(state.prepared[name] || []), ...answer.methods]);
  if (state.problem.name === name && !state.playing) status(`ready (compiled in ${answer.seconds.toFixed(1)} s): click the map`, "ready");
}

async function drop(start) {
  const methods = selectedMethods();
  if (!methods.length) { status("select at least one method", "error"); return; }
  state.start = start;
  shareURL();
  status("running...", "running");
  try {
    const answer = await api("/api/run", {problem: state.problem.name, start, methods,
      learning_rate: Number($("learning-rate").value), momentum: Number($("momentum").value)});
    state.runs = answer.runs;
    status("rolling...", "running");
    play();
  } catch (err) {
    status(err.message, "error");
  }
}

async function hover(x) {
  if (state.pointBusy) { state.pointNext = x; return; }
  state.pointBusy = true;
  try {
    state.hover = await api("/api/point", {problem: state.problem.name, x});
    describePoint();
    if (!state.playing) draw();
  } catch (err) {
    status(err.message, "error");
  } finally {
    state.pointBusy = false;
    if (state.pointNext) { const next = state.pointNext; state.pointNext = null; hover(next); }
  }
}

async function choose(name, opts = {}) {
  state.problem = state.catalog.problems.find((p) => p.name === name) || state.catalog.problems[0];
  state.runs = []; state.hover = null; state.playing = false; state.start = null;
  $("problem").value = state.problem.name;
  $("description").textContent = state.problem.description;
  $("x-range").textContent = `x in [${state.problem.lo[0]}, ${state.problem.hi[0]}]`;
  $("y-range").textContent = `y in [${state.problem.lo[1]}, ${state.problem.hi[1]}]`;
  buildMethods(opts.methods);
  readout(); describePoint();
  status(`loading ${state.problem.name}...`, "loading");
  state.surface = await api(`/api/surface?problem=${encodeURIComponent(state.problem.name)}&n=128`);
  drawSurface(); draw();
  shareURL();
  try {
    await prepare();
    if (opts.start) await drop(opts.start);
  } catch (err) {
    status(err.message, "error");
  }
}

function buildMethods(wanted) {
  const box = $("methods"), keep = wanted || selectedMethods();
  const chosen = keep.length ? keep : state.catalog.default_methods;
  box.querySelectorAll("label").forEach((el) => el.remove());
  for (const name of state.problem.methods) {
    const info = methodInfo(name), label = document.createElement("label");
    label.title = info.doc;
    label.innerHTML = `<input type="checkbox" value="${name}"><span class="swatch" style="background:${info.color}"></span>${name}`;
    label.querySelector("input").checked = chosen.includes(name);
    label.querySelector("input").addEventListener("change", () => { shareURL(); prepare().catch((e) => status(e.message, "error")); });
    box.appendChild(label);
  }
}

async function main() {
  try {
    state.catalog = await api("/api/problems");
  } catch (err) {
    status(`cannot reach the curvax server: ${err.message}`, "error");
    return;
  }
  const select = $("problem");
  for (const p of state.catalog.problems) select.add(new Option(p.name, p.name));
  const q = new URLSearchParams(location.search);
  if (q.get("lr")) $("learning-rate").value = q.get("lr");
  if (q.get("momentum")) $("momentum").value = q.get("momentum");
  const start = q.get("start") ? q.get("start").split(",").map(Number) : null;
  const methods = q.get("methods") ? q.get("methods").split(",").filter(Boolean) : null;
  const overlay = $("overlay");
  const at = (ev) => { const r = overlay.getBoundingClientRect(); return toWorld(ev.clientX - r.left, ev.clientY - r.top); };
  overlay.addEventListener("mousemove", (ev) => hover(at(ev)));
  overlay.addEventListener("click", (ev) => drop(at(ev)));
  select.addEventListener("change", () => choose(select.value));
  $("reset").addEventListener("click", () => { state.runs = []; state.playing = false; state.start = null; draw(); readout(); shareURL(); status("ready: click the map", "ready"); });
  $("speed").addEventListener("input", () => { $("speed-value").textContent = `${speed()} it/s`; });
  for (const id of ["learning-rate", "momentum"]) $(id).addEventListener("change", shareURL);
  $("speed-value").textContent = `${speed()} it/s`;
  await choose(q.get("problem") || "himmelblau", {methods, start});
}

main();
