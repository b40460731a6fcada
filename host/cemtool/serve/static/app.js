// The cemt dashboard: fetches the JSON API every refresh_s seconds and redraws the page.
// Plain DOM and inline SVG; all text goes in through textContent (never as HTML).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = {day: "", refreshes: 0, timer: null, config: null};

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
                                      : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function fmt(v, places) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString("en-US",
    {minimumFractionDigits: places, maximumFractionDigits: places});
}

function when(iso) {
  return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "–";
}

function ago(s) {
  if (s === null || s === undefined) return "–";
  const a = Math.abs(s), sign = s < 0 ? "in " : "";
  const text = a < 120 ? `${a} s` : a < 7200 ? `${Math.round(a / 60)} min`
    : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return s < 0 ? sign + text : text + " ago";
}

function value(field, v, places, unit) {
  return el("span", {}, el("span", {"data-field": field}, fmt(v, places)),
            unit ? el("span", {class: "unit"}, " " + unit) : null);
}

async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store"});
  let body;
  try { body = await r.json(); } catch (e) { throw new Error(`${url}: HTTP ${r.status}`); }
  if (!r.ok) throw new Error(body.error || `${url}: HTTP ${r.status}`);
  return body;
}

// -- status ------------------------------------------------------------------------------------

function reading(title, r) {
  const cls = r ? `reading ${r.kind}` : "reading none";
  if (!r) return el("div", {class: cls}, el("h4", {}, title), el("p", {}, "no record"));
  return el("div", {class: cls, "data-kind": r.kind},
    el("h4", {}, title),
    el("dl", {},
      el("dt", {}, "Time"), el("dd", {}, el("span", {"data-field": "t"}, when(r.t)),
                                     " ", el("span", {class: "age", "data-field": "age"}, ago(r.age_s))),
      el("dt", {}, "Flag"), el("dd", {}, el("span", {"data-field": "flag", class: `flag flag-${r.flag}`}, r.flag),
                               r.valid ? null : el("span", {class: "invalid"}, " not valid")),
      el("dt", {}, "CO₂"), el("dd", {}, value("co2_pct", r.co2_pct, 2, "%")),
      el("dt", {}, "Flow"), el("dd", {}, value("qsn_m3h", r.qsn_m3h, 0, "m³/h")),
      el("dt", {}, "Velocity"), el("dd", {}, value("velocity_ms", r.velocity_ms, 2, "m/s")),
      el("dt", {}, "Temperature"), el("dd", {}, value("temp_c", r.temp_c, 1, "°C")),
      el("dt", {}, "Emission rate"), el("dd", {}, value("rate_kg_h", r.rate_kg_h, 2, "kg/h")),
      el("dt", {}, "Time quality"), el("dd", {"data-field": "tq"}, ["unsynced", "set by host", "network"][r.tq] || r.tq)));
}

function link(l) {
  return el("p", {class: `link link-${l.state}`, "data-field": "link", "data-state": l.state},
    "Link: ", el("strong", {}, l.state),
    l.last_arrival ? ` — last arrival ${when(l.last_arrival)} (${ago(l.age_s)})` : " — nothing received");
}

function alarms(list) {
  if (!list.length) return el("p", {class: "alarms none"}, "No device warnings.");
  return el("ul", {class: "alarms"}, ...list.map(a =>
    el("li", {class: "alarm", "data-code": a.code},
      el("strong", {}, a.name), ` (${a.device}, since ${when(a.since)}): value ${a.value}, limit ${a.limit}`,
      a.description ? el("span", {class: "desc"}, " — " + a.description) : null)));
}

// -- hourly chart --------------------------------------------------------------------------------

const W = 760, H = 200, PAD_L = 56, PAD_R = 16, PAD_B = 28, PAD_T = 10;

function chart(hourly, index) {
  const t0 = Date.parse(hourly.start), t1 = Date.parse(hourly.end);
  const slots = Math.round((t1 - t0) / 3600e3);
  const bw = (W - PAD_L - PAD_R) / slots, ph = H - PAD_B - PAD_T;
  const drawn = hourly.hours.filter(h => h.kg !== null && h.status !== "shutdown");
  const top = Math.max(1, ...drawn.map(h => h.kg));
  const y = kg => PAD_T + ph - kg / top * ph;
  const hatch = `hatch-${index}`;
  const svg = el("svg:svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
                             "aria-label": `Hourly CO2 emission of ${hourly.point}, kg/h`},
    el("svg:defs", {}, el("svg:pattern", {id: hatch, width: 6, height: 6, patternUnits: "userSpaceOnUse",
                                         patternTransform: "rotate(45)"},
      el("svg:rect", {width: 6, height: 6, class: "hatch-bg"}),
      el("svg:line", {x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line"}))));
  for (const f of [0, 0.5, 1]) {
    const yy = y(top * f);
    svg.append(el("svg:line", {x1: PAD_L, x2: W - PAD_R, y1: yy, y2: yy, class: "grid"}),
               el("svg:text", {x: PAD_L - 4, y: yy + 4, class: "axis", "text-anchor": "end"}, fmt(top * f, 0)));
  }
  for (let i = 0; i <= slots; i += slots > 24 ? 6 : 3) {
    const d = new Date(t0 + i * 3600e3);
    const label = d.getUTCHours() === 0 ? d.toISOString().slice(5, 10) : `${String(d.getUTCHours()).padStart(2, "0")}:00`;
    svg.append(el("svg:text", {x: PAD_L + i * bw, y: H - 8, class: "axis", "text-anchor": "middle"}, label));
  }
  for (const h of hourly.hours) {
    const i = Math.round((Date.parse(h.t) - t0) / 3600e3);
    const x = PAD_L + i * bw + 0.5;
    if (h.status === "shutdown") {
      svg.append(el("svg:rect", {x, y: PAD_T + ph - 3, width: Math.max(1, bw - 1), height: 3, class: "shutdown",
                                 "data-t": h.t}, el("svg:title", {}, `${when(h.t)} declared shutdown`)));
      continue;
    }
    if (h.kg === null) continue;
    const cls = h.substituted ? "bar substituted" : "bar measured";
    svg.append(el("svg:rect", {x, y: y(h.kg), width: Math.max(1, bw - 1), height: Math.max(0, PAD_T + ph - y(h.kg)),
                               class: cls, fill: h.substituted ? `url(#${hatch})` : null,
                               "data-t": h.t, "data-kg": h.kg},
      el("svg:title", {}, `${when(h.t)}: ${fmt(h.kg, 2)} kg (${h.substituted ? "substituted, " + h.rule : "measured, flag " + h.flag})`)));
  }
  svg.append(el("svg:line", {x1: PAD_L, x2: W - PAD_R, y1: PAD_T + ph, y2: PAD_T + ph, class: "baseline"}));
  const period = state.day ? `day ${state.day}` : `last ${Math.round(slots)} h`;
  return el("figure", {class: "hourly"},
    svg,
    el("figcaption", {}, `Hourly CO₂ emission, kg/h (${period}, through ${when(hourly.through)}): `,
      el("span", {class: "key measured"}, "measured"), " ",
      el("span", {class: "key substituted"}, `substituted (${hourly.rule})`), " — total ",
      el("span", {"data-field": "total_kg"}, fmt(hourly.total_kg, 2)), " kg"));
}

// -- quality ---------------------------------------------------------------------------------------

function qualityTable(q) {
  const rate = q.capture_rate === null ? "–" : fmt(q.capture_rate * 100, 1) + " %";
  const rows = [
    ["Capture rate", el("span", {"data-field": "capture_rate"}, rate)],
    ["Hours", q.hours ? `${q.hours}: valid ${q.valid}, invalid ${q.invalid}, missing ${q.missing}, shutdown ${q.shutdown}` : "none with data"],
    ["Substituted", el("span", {}, el("span", {"data-field": "substituted_hours"}, q.substituted_hours),
                       ` h, ${fmt(q.substituted_kg, 2)} kg`)],
    ["Sequence gaps", el("span", {"data-field": "gaps"}, (q.gaps || []).length)],
    ["Calibration", el("span", {}, el("span", {"data-field": "calibration_status"}, q.calibration_status),
                       q.last_calibration ? ` (last CO₂ ${when(q.last_calibration)})` : "")],
    ["Calibrations in period", (q.calibrations || []).length],
  ];
  if (q.timeliness && q.timeliness.hour.records) {
    rows.push(["Hour record delay", `median ${fmt(q.timeliness.hour.median_s, 0)} s, max ${fmt(q.timeliness.hour.max_s, 0)} s`]);
  }
  const table = el("table", {class: "quality"}, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
  const gaps = (q.gaps || []).map(g => el("li", {}, `${g.device} ${g.log} log: seq ${g.first}–${g.last} (${g.count})`));
  return el("div", {}, el("h4", {}, "Data quality"), table, gaps.length ? el("ul", {class: "gaps"}, ...gaps) : null);
}

// -- page ------------------------------------------------------------------------------------------

function pointCard(p, hourly, q, index) {
  return el("section", {class: "point", "data-point": p.id},
    el("h3", {}, p.name, el("span", {class: "ids"}, ` ${p.id} · source ${p.source}` + (p.mn ? ` · MN ${p.mn}` : "") + ` · devices ${p.devices.join(", ")}`)),
    el("div", {class: "status"}, reading("Latest minute", p.minute), reading("Latest hour", p.hour),
       el("div", {class: "side"}, link(p.link), el("h4", {}, "Device warnings"), alarms(p.alarms))),
    chart(hourly, index),
    qualityTable(q));
}

function warningList(w) {
  const list = document.getElementById("warning-list");
  const items = w.warnings.map(x => el("li", {class: x.active ? "warning active" : "warning",
                                               "data-kind": x.kind, "data-id": x.id},
    el("strong", {}, x.active ? "WARNING" : "ok"), ` ${x.kind} · ${x.scope} ${x.id}: ${x.message}`));
  if (!items.length) items.push(el("li", {class: "none"}, "Nothing to check (no thresholds or allowances with data)."));
  list.replaceChildren(...items);
  document.getElementById("warnings").dataset.active = w.active;
}

async function refresh() {
  try {
    const q = state.day ? `&day=${state.day}` : "";
    const [status, warnings] = await Promise.all([getJSON("/api/status"), getJSON("/api/warnings")]);
    const details = await Promise.all(status.points.map(p => {
      const id = encodeURIComponent(p.id);
      return Promise.all([getJSON(`/api/hourly?point=${id}${q}`), getJSON(`/api/quality?point=${id}${q}`)]);
    }));
    document.getElementById("enterprise").textContent = status.enterprise;
    warningList(warnings);
    const cards = status.points.map((p, i) => pointCard(p, details[i][0], details[i][1], i));
    if (!cards.length) cards.push(el("p", {class: "none"}, "No monitoring points (the database holds no device yet)."));
    document.getElementById("points").replaceChildren(...cards);
    document.getElementById("clock").textContent = `data at ${when(status.at)}`;
    document.getElementById("error").hidden = true;
  } catch (e) {
    const box = document.getElementById("error");
    box.textContent = `Cannot refresh: ${e.message}`;
    box.hidden = false;
  }
  state.refreshes += 1;
  document.body.dataset.refreshes = state.refreshes;
}

async function start() {
  try {
    state.config = await getJSON("/api/config");
  } catch (e) {
    state.config = {refresh_s: 30, site: null};
  }
  document.getElementById("refresh").textContent = state.config.refresh_s;
  document.getElementById("source").textContent = state.config.site ? state.config.site : "the receiver database (no site.toml: one point per device)";
  const day = document.getElementById("day");
  day.addEventListener("change", () => { state.day = day.value; refresh(); });
  document.getElementById("last48").addEventListener("click", () => { day.value = ""; state.day = ""; refresh(); });
  await refresh();
  state.timer = setInterval(refresh, state.config.refresh_s * 1000);
}

start();
