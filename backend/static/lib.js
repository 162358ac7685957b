// Crucible dashboard, the helpers app.js builds on: DOM building (text only, never HTML), formatting for
// people (status colours, durations, times), the JSON API with its error format, and a reconnecting socket.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const enc = encodeURIComponent;

// ---- small helpers -----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined)); // strings become text, never HTML
  return node;
}

// Families of statuses share a colour: every init_* step is "provisioning", and so on.
function family(status) {
  const prefix = { init_: "provisioning", archive_: "archiving", kill_: "killing" };
  for (const [p, name] of Object.entries(prefix)) if (status.startsWith(p)) return name;
  return status;
}
const badge = (status) => el("span", { class: `badge s-${family(status)}`, title: status }, status);

function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  return h < 24 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}
function ago(iso) {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 5) return "just now";
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}
const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "—");
const agoEl = (iso) => el("time", { datetime: iso, title: iso }, ago(iso));

// ---- the API: JSON in, JSON out, its error format turned into an exception --------------------

class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    Object.assign(this, { status, code: error?.code || "http_error", details: error?.details });
  }
}
// With CRUCIBLE_TOKEN set, the API answers 401 until the page presents the token: asked for once, kept
// for the browser tab only (sessionStorage), sent as a bearer header (and as ?token= on websockets).
const token = () => sessionStorage.getItem("crucible-token");
async function api(method, path, body, asked = false) {
  const init = { method, headers: { Accept: "application/json" } };
  if (token()) init.headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) init.body = JSON.stringify(body);
  if (body !== undefined) init.headers["Content-Type"] = "application/json";
  const resp = await fetch(path, init);
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (resp.status === 401 && !asked) {
    const given = window.prompt("This server needs its access token (CRUCIBLE_TOKEN):");
    if (given) return sessionStorage.setItem("crucible-token", given), api(method, path, body, true);
  }
  if (!resp.ok) throw new ApiError(resp.status, data?.error);
  return data;
}
function showError(box, err) {
  if (!err) return void (box.hidden = true);
  const details = Array.isArray(err.details)
    ? el("ul", {}, ...err.details.map((d) => el("li", {}, `${(d.loc || []).join(".") || "body"}: ${d.msg}`)))
    : err.details ? el("div", { class: "muted" }, JSON.stringify(err.details)) : null;
  const head = el("strong", {}, `${err.status || ""} ${err.code || "error"}`);
  box.replaceChildren(head, ` ${err.message}`, details);
  box.hidden = false;
}

// A websocket that reconnects (backoff 0.5 s doubling to 5 s) to the path `path()` gives at that moment.
function live(path, onFrame, onState) {
  let sock, delay = 500, stopped = false;
  const open = () => {
    const auth = token() ? `${path().includes("?") ? "&" : "?"}token=${enc(token())}` : "";
    sock = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path()}${auth}`);
    sock.onopen = () => { delay = 500; onState("live"); };
    sock.onmessage = (msg) => onFrame(JSON.parse(msg.data));
    sock.onclose = () => {
      if (stopped) return;
      onState("reconnecting");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  };
  open();
  return { close() { stopped = true; sock.close(); } };
}
