// Encore dashboard: reads the service's own JSON API; plotly.js is served locally.
"use strict";

const $ = (id) => document.getElementById(id);

async function getJSON(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else url.searchParams.set(k, v);
  }
  const res = await fetch(url);
  const body = await res.json();
  if (!res.ok) throw new Error(body.detail || res.statusText);
  return body;
}

function by() {
  return document.querySelector('input[name="by"]:checked').value;
}

function windowParams() {
  return { from: $("from").value, to: $("to").value };
}

function drawn(el) {
  el.dataset.draws = String(Number(el.dataset.draws || 0) + 1);
}

function table(el, rows, columns) {
  el.innerHTML = "";
  const head = el.createTHead().insertRow();
  columns.forEach((c) => {
    const th = document.createElement("th");
    th.textContent = c.label;
    head.appendChild(th);
  });
  const body = el.createTBody();
  rows.forEach((r) => {
    const tr = body.insertRow();
    columns.forEach((c) => {
      const td = tr.insertCell();
      const v = r[c.key];
      td.textContent = v === null || v === undefined ? "" : typeof v === "number" ? v.toLocaleString(undefined, { maximumFractionDigits: 3 }) : v;
      if (typeof v === "number") td.className = "num";
    });
  });
}

function fail(el, err) {
  el.innerHTML = "";
  const p = document.createElement("p");
  p.className = "error";
  p.textContent = String(err.message || err);
  el.appendChild(p);
}

async function drawGenres() {
  const el = $("genre-chart");
  try {
    const res = await getJSON("/analytics/genres", { ...windowParams(), by: by() });
    $("window-text").textContent = res.window;
    $("genre-notes").textContent = res.notes.join(" ");
    const col = res.measure === "tags" ? "tag_assignments" : by();
    const rows = res.rows.filter((r) => r[col] !== null);
    await Plotly.react(el, [{ type: "bar", x: rows.map((r) => r.genre), y: rows.map((r) => r[col]), marker: { color: "#2563eb" } }],
      { margin: { t: 10, b: 90 }, yaxis: { title: { text: col } } }, { displaylogo: false, responsive: true });
    const pick = $("genre-pick");
    const current = pick.value;
    pick.innerHTML = '<option value="">all genres</option>';
    rows.forEach((r) => { const o = document.createElement("option"); o.value = o.textContent = r.genre; pick.appendChild(o); });
    if ([...pick.options].some((o) => o.value === current)) pick.value = current;
    drawn(el);
  } catch (err) { fail(el, err); }
}

async function drawTop() {
  const genre = $("genre-pick").value;
  const params = { ...windowParams(), by: by(), genre, n: genre ? 10 : 3 };
  try {
    const tracks = await getJSON("/analytics/top-tracks", params);
    table($("top-tracks"), tracks.rows, [{ key: "genre", label: "genre" }, { key: "rank", label: "#" }, { key: "track", label: "track" }, { key: "artist", label: "artist" }, { key: by(), label: by() }]);
  } catch (err) { fail($("top-tracks"), err); }
  try {
    const artists = await getJSON("/analytics/top-artists", params);
    table($("top-artists"), artists.rows, [{ key: "genre", label: "genre" }, { key: "rank", label: "#" }, { key: "artist", label: "artist" }, { key: by(), label: by() }]);
  } catch (err) { fail($("top-artists"), err); }
}

async function drawTrend() {
  const el = $("trend-chart");
  try {
    const res = await getJSON("/analytics/trend", { ...windowParams(), by: by() });
    const col = res.measure === "tags" ? "tag_assignments" : by();
    const series = {};
    res.rows.forEach((r) => { (series[r.genre] = series[r.genre] || []).push(r); });
    const traces = Object.entries(series).map(([g, rows]) => ({ type: "scatter", mode: "lines", name: g, x: rows.map((r) => r.period), y: rows.map((r) => r[col]) }));
    await Plotly.react(el, traces, { margin: { t: 10 }, yaxis: { title: { text: col } } }, { displaylogo: false, responsive: true });
    drawn(el);
  } catch (err) { fail(el, err); }
}

async function drawSegments() {
  const el = $("segment-map");
  try {
    const res = await getJSON("/segments/map");
    const groups = {};
    res.points.forEach((p) => { (groups[p.segment_name || p.segment] = groups[p.segment_name || p.segment] || []).push(p); });
    const traces = Object.entries(groups).map(([name, pts]) => ({ type: "scattergl", mode: "markers", name, x: pts.map((p) => p.x), y: pts.map((p) => p.y), text: pts.map((p) => p.user_id), marker: { size: 5 } }));
    await Plotly.react(el, traces, { margin: { t: 10 }, xaxis: { visible: false }, yaxis: { visible: false } }, { displaylogo: false, responsive: true });
    $("segment-notes").textContent = `${res.points.length.toLocaleString()} listeners, ${res.method || "no"} map`;
    drawn(el);
  } catch (err) {
    el.style.height = "auto";
    $("segment-notes").textContent = String(err.message || err);
  }
}

async function drawRecs() {
  const user = $("user").value.trim();
  if (!user) return;
  $("recs-notes").textContent = "…";
  try {
    const res = await getJSON(`/users/${encodeURIComponent(user)}/recommendations`, { n: 10, new_artists_only: $("new-artists").checked });
    $("recs-notes").textContent = [`${res.model} (${res.model_source})`, ...res.notes].join(" · ");
    table($("recs"), res.items, [{ key: "rank", label: "#" }, { key: "name", label: "track" }, { key: "artist", label: "artist" }, { key: "genre", label: "genre" }, { key: "because", label: "because" }]);
  } catch (err) {
    $("recs-notes").textContent = "";
    fail($("recs"), err);
  }
}

function applyPreset() {
  const preset = $("preset").value;
  if (preset === "custom") return;
  if (preset === "all") { $("from").value = "1990-01-01"; $("to").value = ""; return; }
  const end = $("to").value ? new Date($("to").value) : new Date(window.ENCORE_LAST || Date.now());
  const start = new Date(end.getTime() - (Number(preset) - 1) * 86400000);
  $("from").value = start.toISOString().slice(0, 10);
}

function redraw() {
  drawGenres().then(drawTop);
  drawTrend();
}

async function init() {
  try {
    // the data's last day anchors the presets (histories end before today)
    const res = await getJSON("/analytics/genres", {});
    window.ENCORE_LAST = res.end;
    $("to").value = String(res.end).slice(0, 10);
  } catch (err) { /* the charts show the error */ }
  applyPreset();
  $("preset").addEventListener("change", () => { applyPreset(); redraw(); });
  $("from").addEventListener("change", () => { $("preset").value = "custom"; redraw(); });
  $("to").addEventListener("change", () => { $("preset").value = "custom"; redraw(); });
  document.querySelectorAll('input[name="by"]').forEach((r) => r.addEventListener("change", redraw));
  $("genre-pick").addEventListener("change", drawTop);
  $("recs-form").addEventListener("submit", drawRecs);
  redraw();
  drawSegments();
  const params = new URLSearchParams(window.location.search);
  if (params.get("user")) { $("user").value = params.get("user"); drawRecs(); }
}

init();
