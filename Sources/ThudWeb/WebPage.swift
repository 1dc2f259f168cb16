// The page `--http` serves at /: one self-contained document (no external script, style, font or picture), kept here
// so that the binary carries it. A grid of feeds (picture, envelope strip with the hits flashing, state), and the
// events list with each hit's snapshot, filterable by feed and time. Live through /api/stream (Server-Sent Events).
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>thud</title>
<style>
  :root { --bg: #14161a; --card: #1e2127; --ink: #e6e6e6; --dim: #8a8f98; --env: #4fc3f7; --hit: #ff3b30; --ok: #34c759; --warn: #ffcc00; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.4 system-ui, sans-serif; }
  header { padding: 10px 16px; display: flex; gap: 16px; align-items: baseline; border-bottom: 1px solid #2a2e35; }
  header h1 { font-size: 18px; margin: 0; }
  header .conn { color: var(--dim); }
  #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 12px; padding: 12px 16px; }
  .feed { background: var(--card); border: 3px solid transparent; border-radius: 8px; padding: 10px; transition: border-color 0.4s; }
  .feed.flash { border-color: var(--hit); transition: none; }
  .feed h2 { font-size: 15px; margin: 0 0 6px; display: flex; justify-content: space-between; gap: 8px; }
  .state { font-size: 12px; padding: 1px 8px; border-radius: 9px; background: #333; }
  .state.streaming { background: var(--ok); color: #000; }
  .state.reconnecting { background: var(--warn); color: #000; }
  .state.ended { background: #555; }
  .row { display: flex; gap: 10px; align-items: flex-start; }
  .picture { flex: none; width: 144px; height: 144px; background: #000; image-rendering: pixelated; object-fit: contain; border-radius: 4px; }
  canvas.strip { flex: 1; min-width: 0; width: 100%; height: 144px; background: #111318; border-radius: 4px; }
  .figures { color: var(--dim); font-size: 12px; margin-top: 6px; }
  section.events { padding: 0 16px 24px; }
  section.events h2 { font-size: 16px; }
  .filters { display: flex; gap: 10px; margin-bottom: 8px; }
  select { background: var(--card); color: var(--ink); border: 1px solid #333; padding: 3px; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #2a2e35; }
  td img { width: 64px; height: 64px; image-rendering: pixelated; display: block; }
  .bar { display: inline-block; height: 8px; background: var(--hit); border-radius: 2px; }
</style>
</head>
<body>
<header><h1>thud</h1><span class="conn" id="conn">connecting…</span></header>
<div id="grid"></div>
<section class="events">
  <h2>Hits on record</h2>
  <div class="filters">
    <label>feed <select id="filter-feed"><option value="">all</option></select></label>
    <label>since <select id="filter-since">
      <option value="600">10 minutes</option><option value="3600" selected>1 hour</option>
      <option value="86400">1 day</option><option value="">all</option></select></label>
  </div>
  <table id="events"><thead><tr><th>snapshot</th><th>feed</th><th>seen</th><th>stream time</th><th>strength</th></tr></thead><tbody></tbody></table>
  <p id="events-note" class="figures"></p>
</section>
<script>
"use strict";
const STRIP_STEPS = 144;            // 12 s at 12 Hz
const feeds = new Map();            // name -> {card, strip, steps: [[k, t, env, hit]], status}
const grid = document.getElementById("grid");

function cardFor(name) {
  let f = feeds.get(name);
  if (f) return f;
  const card = document.createElement("div");
  card.className = "feed";
  card.dataset.feed = name;
  card.id = "feed-" + name;
  card.innerHTML = '<h2><span class="name"></span><span class="state"></span></h2>' +
    '<div class="row"><img class="picture" alt="latest picture"><canvas class="strip" width="360" height="144"></canvas></div>' +
    '<div class="figures"></div>';
  card.querySelector(".name").textContent = name;
  grid.appendChild(card);
  const option = document.createElement("option");
  option.value = name; option.textContent = name;
  document.getElementById("filter-feed").appendChild(option);
  f = { card, strip: card.querySelector("canvas"), picture: card.querySelector("img"), steps: [], status: null, flashTimer: 0 };
  feeds.set(name, f);
  return f;
}

function showStatus(s) {
  const f = cardFor(s.name);
  f.status = s;
  const state = f.card.querySelector(".state");
  state.textContent = s.state; state.className = "state " + s.state;
  f.card.dataset.state = s.state;
  const ms = v => v == null ? "–" : v.toFixed(0) + " ms";
  let text = `${s.steps} steps · ${s.hits} hits · processing ${ms(s.latency_median_ms)} (p99 ${ms(s.latency_p99_ms)}) · ` +
             `${s.dropped_steps} dropped · ${s.reconnects} reconnects`;
  text += " · model " + (s.model ? s.model.split("/").pop() : "–");
  if (s.learned_s != null) text += ` · learned from ${Math.round(s.learned_s)} s of this feed`;
  f.card.querySelector(".figures").textContent = text;
}

function addSteps(name, steps) {
  const f = cardFor(name);
  for (const s of steps) {
    f.steps.push(s);
    if (s[3] != null) flash(f);
  }
  if (f.steps.length > STRIP_STEPS) f.steps.splice(0, f.steps.length - STRIP_STEPS);
  draw(f);
}

function flash(f) {
  f.card.classList.add("flash");
  f.card.dataset.lastHit = String(Date.now());
  clearTimeout(f.flashTimer);
  f.flashTimer = setTimeout(() => f.card.classList.remove("flash"), 350);
}

function draw(f) {
  const c = f.strip, g = c.getContext("2d"), w = c.width, h = c.height;
  g.fillStyle = "#111318"; g.fillRect(0, 0, w, h);
  g.strokeStyle = "#2a2e35"; g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
  if (!f.steps.length) return;
  const last = f.steps[f.steps.length - 1][0];
  const x = k => w - 1 - (last - k) * (w / STRIP_STEPS);
  g.fillStyle = "rgba(79, 195, 247, 0.35)"; g.strokeStyle = "#4fc3f7"; g.lineWidth = 2;
  g.beginPath(); g.moveTo(x(f.steps[0][0]), h);
  for (const s of f.steps) g.lineTo(x(s[0]), h - 4 - s[2] * (h - 8));
  g.lineTo(x(last), h); g.closePath(); g.fill();
  g.beginPath();
  f.steps.forEach((s, i) => { const y = h - 4 - s[2] * (h - 8); i ? g.lineTo(x(s[0]), y) : g.moveTo(x(s[0]), y); });
  g.stroke();
  g.fillStyle = "#ff3b30";
  for (const s of f.steps) if (s[3] != null) g.fillRect(x(s[0]) - 2, 0, 5, h);
}

function refreshPicture(name, serial, jpeg) {
  const f = cardFor(name);
  f.picture.src = jpeg ? "data:image/jpeg;base64," + jpeg : "/api/feeds/" + encodeURIComponent(name) + "/picture.jpg?serial=" + serial;
  f.card.dataset.pictureSerial = String(serial);
}

function connect() {
  const conn = document.getElementById("conn");
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => { conn.textContent = "live"; });
  source.addEventListener("error", () => { conn.textContent = "reconnecting…"; });
  source.addEventListener("hello", e => {
    const d = JSON.parse(e.data);
    for (const s of d.feeds) showStatus(s);
    for (const [name, steps] of Object.entries(d.history)) { const f = cardFor(name); f.steps = steps.slice(-STRIP_STEPS); draw(f); }
  });
  source.addEventListener("steps", e => {
    for (const [name, steps] of Object.entries(JSON.parse(e.data))) addSteps(name, steps);
  });
  source.addEventListener("feed", e => showStatus(JSON.parse(e.data)));
  source.addEventListener("picture", e => { const d = JSON.parse(e.data); refreshPicture(d.feed, d.serial, d.jpeg); });
}

async function loadEvents() {
  const feed = document.getElementById("filter-feed").value;
  const since = document.getElementById("filter-since").value;
  const params = new URLSearchParams({ limit: "100" });
  if (feed) params.set("feed", feed);
  if (since) params.set("since", String(Date.now() / 1000 - Number(since)));
  const body = document.querySelector("#events tbody");
  try {
    const r = await fetch("/api/events?" + params);
    const rows = await r.json();
    body.replaceChildren(...rows.map(e => {
      const tr = document.createElement("tr");
      tr.className = "event"; tr.dataset.feed = e.feed;
      const snap = e.snapshot_bytes > 0 ? `<img alt="snapshot" src="/api/events/${e.id}/snapshot.jpg">` : "";
      tr.innerHTML = `<td>${snap}</td><td></td><td>${new Date(e.wall * 1000).toLocaleTimeString()}</td>` +
                     `<td>${e.t.toFixed(2)} s</td><td><span class="bar" style="width:${Math.round(e.strength * 80)}px"></span> ${e.strength.toFixed(2)}</td>`;
      tr.children[1].textContent = e.feed;
      return tr;
    }));
    document.getElementById("events-note").textContent = rows.length ? "" : "no hits on record here (thud … --events DB keeps them)";
  } catch (err) {
    document.getElementById("events-note").textContent = "events: " + err;
  }
}

fetch("/api/feeds").then(r => r.json()).then(list => { for (const s of list) showStatus(s); });
connect();
loadEvents();
setInterval(loadEvents, 3000);
document.getElementById("filter-feed").addEventListener("change", loadEvents);
document.getElementById("filter-since").addEventListener("change", loadEvents);
</script>
</body>
</html>
"""#
}
