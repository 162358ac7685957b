// Crucible dashboard: plain DOM, no framework. Everything live comes from the two websockets
// (the workspace feed of task summaries and one task's events); a socket that drops reconnects with the
// last cursor or seq it saw, so nothing is missed or repeated. The server is never polled. Helpers: lib.js.
"use strict";

const state = { ws: "default", projects: [], tasks: new Map(), cursor: 0, feed: null, detail: null };

// ---- the workspace: projects and the live task list -------------------------------------------

async function loadWorkspaces() {
  const { workspaces } = await api("GET", "/v1/workspaces");
  $("#workspace").replaceChildren(...workspaces.map((w) => el("option", { value: w.name }, w.name)));
  $("#workspace").value = state.ws;
}
let projectsLoading = null;
function loadProjects() { // callers at the same time share one request
  return (projectsLoading ??= fetchProjects().finally(() => { projectsLoading = null; }));
}
async function fetchProjects() {
  state.projects = (await api("GET", `/v1/workspaces/${enc(state.ws)}/projects`)).projects;
  const options = () => state.projects.map((p) => el("option", { value: p.name }, p.name));
  const [select, filter] = [$("#task-form [name=project]"), $("#filter")];
  const [chosen, filtered] = [select.value, filter.value];
  select.replaceChildren(...options());
  filter.replaceChildren(el("option", { value: "" }, "all projects"), ...options());
  select.value = chosen || select.value;
  filter.value = filtered;
  $("#projects").replaceChildren(...state.projects.map((p) =>
    el("li", {}, el("strong", {}, p.name), " ", el("span", { class: "muted", title: p.repo }, p.repo))));
  renderTasks();
}

function upsert(task) { // frames and answers can cross: the higher seq is the newer summary
  const known = state.tasks.get(task.id);
  if (!known || task.seq >= known.seq) state.tasks.set(task.id, task);
}

function followWorkspace() {
  state.feed?.close();
  Object.assign(state, { tasks: new Map(), cursor: 0 });
  renderTasks();
  state.feed = live(() => `/v1/workspaces/${enc(state.ws)}/events?since=${state.cursor}`, (frame) => {
    if (frame.type === "resync") { // the cursor is unknown here (a new data directory): start over
      Object.assign(state, { tasks: new Map(), cursor: 0 });
      return scheduleRender();
    }
    state.cursor = frame.cursor;
    if (frame.type === "deleted") {
      state.tasks.delete(frame.task_id);
      return scheduleRender();
    }
    upsert(frame.task);
    if (!state.projects.some((p) => p.name === frame.task.project)) loadProjects(); // registered elsewhere
    scheduleRender();
  }, (s) => {
    $("#conn").dataset.state = s;
    $("#conn").textContent = s === "live" ? "live" : "reconnecting…";
  });
}

let renderPending = false;
function scheduleRender() { // a burst of frames is drawn once
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => { renderPending = false; renderTasks(); });
}

function renderTasks() {
  const filter = $("#filter").value;
  const tasks = [...state.tasks.values()].filter((t) => !filter || t.project === filter)
    .sort((a, b) => (a.id < b.id ? 1 : -1)); // ids sort by creation time: newest first
  const selected = state.detail?.id;
  $("#tasks tbody").replaceChildren(...tasks.map((t) => {
    const tone = t.status === "error" ? "bad" : "muted"; // an error's message shows in the list itself
    const message = t.status_message ? el("div", { class: `message ${tone}` }, t.status_message) : null;
    const row = el("tr", { "data-id": t.id, class: t.id === selected ? "selected" : "" },
      el("td", {}, badge(t.status)),
      el("td", {}, el("div", { class: "title" }, t.title), el("div", { class: "mono muted" }, t.branch),
        message),
      el("td", {}, t.project, t.host && t.host !== "leader" ? el("div", { class: "mono muted" }, `on ${t.host}`) : null),
      el("td", {}, agoEl(t.updated_at)));
    row.onclick = () => { location.hash = `#/${enc(state.ws)}/${t.id}`; };
    return row;
  }));
  $("#empty").hidden = tasks.length > 0;
  const counts = {};
  for (const t of tasks) counts[family(t.status)] = (counts[family(t.status)] || 0) + 1;
  const chips = Object.entries(counts).map(([f, n]) => el("span", { class: `count s-${f}` }, `${n} ${f}`));
  $("#counts").replaceChildren(...chips);
}

// ---- one task: record, step timeline, live events, actions ------------------------------------

function openTask(id) {
  state.detail?.sock.close();
  const d = { id, seq: 0, record: null, fetching: false, again: false };
  state.detail = d;
  $("#detail").hidden = false;
  $("#d-events").replaceChildren();
  $("#d-talk").replaceChildren(el("li", { class: "you", id: "d-first" })); // the prompt, once read
  showError($("#d-action-error"), null);
  showError($("#say-form .form-error"), null);
  refresh(d);
  d.sock = live(() => `/v1/tasks/${id}/events?since=${d.seq}`, (ev) => {
    if (ev.seq <= d.seq) return;
    d.seq = ev.seq;
    if (ev.kind.startsWith("session.")) return void talk(ev, $("#d-talk")); // the record is unchanged
    $("#d-events").prepend(eventItem(ev));
    refresh(d); // the record behind the event: step times, attempts, error
  }, (s) => {
    $("#d-live").textContent = s === "live" ? "● live" : "reconnecting…";
    if (s !== "live") refresh(d); // a deleted task's socket is refused: the read says so
  });
  renderTasks();
}
function closeTask() {
  state.detail?.sock.close();
  state.detail = null;
  $("#detail").hidden = true;
  renderTasks();
}

async function refresh(d) { // one read in flight per task, and one more if events came meanwhile
  if (d.fetching) return void (d.again = true);
  d.fetching = true;
  try {
    d.record = await api("GET", `/v1/tasks/${d.id}`);
    upsert(summaryOf(d.record));
    if (state.detail === d) { renderDetail(d.record); scheduleRender(); }
  } catch (err) {
    if (err.status !== 404 || state.detail !== d) return;
    state.tasks.delete(d.id);
    location.hash = `#/${enc(state.ws)}`;
  } finally {
    d.fetching = false;
    if (d.again) { d.again = false; refresh(d); }
  }
}
const summaryOf = (r) => ({ id: r.id, project: r.project, title: r.title, branch: r.branch, status: r.status,
  status_message: r.status_message, updated_at: r.updated_at, seq: r.seq, host: state.tasks.get(r.id)?.host });

function renderDetail(r) {
  $("#d-status").replaceWith(Object.assign(badge(r.status), { id: "d-status" }));
  $("#d-title").textContent = r.title;
  const err = r.error;
  $("#d-error").hidden = !err;
  if (err) $("#d-error").replaceChildren(el("strong", {}, `Failed at ${err.step}`),
    ` after ${err.attempts} attempt${err.attempts === 1 ? "" : "s"} (${ago(err.at)}): `, err.message);
  const facts = [["id", r.id], ["project", r.project], ["branch", r.branch],
    ["agent", `${r.agent} on ${r.provider}`], ["status", r.status_message],
    ["created", `${clock(r.created_at)} (${ago(r.created_at)})`], ["sandbox", r.sandbox?.path],
    ["agent endpoint", r.agent_endpoint], ["session", r.session_id], ["prompt", r.prompt]];
  const shown = facts.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]);
  $("#d-facts").replaceChildren(...shown);
  const allowed = { // docs/design.md, "Transitions", so that a refusal is rare (the API still has the last word)
    retry: r.status === "error",
    archive: ["running", "idle", "error"].includes(r.status),
    kill: r.status !== "killed" && !r.status.startsWith("kill_"),
    delete: ["archived", "killed"].includes(r.status),
  };
  for (const b of document.querySelectorAll("#detail .actions button")) {
    b.disabled = !allowed[b.dataset.action];
  }
  $("#say-form button[type=submit]").disabled = !["running", "idle"].includes(r.status);
  $("#d-first").textContent = r.prompt; // the first prompt, sent with the task (task.created)
  renderSteps(r);
}

function renderSteps(r) { // each step's bar sits on the task's own time axis, from its create to now
  const start = Date.parse(r.created_at);
  const times = r.steps.map((s) => {
    const from = s.started_at ? Date.parse(s.started_at) : null;
    const busy = s.status === "started" || s.status === "retrying";
    return { from, busy, to: s.finished_at ? Date.parse(s.finished_at) : busy ? Date.now() : from };
  });
  const span = Math.max(1, Date.parse(r.updated_at) - start, ...times.map((t) => (t.to ?? start) - start));
  $("#d-steps tbody").replaceChildren(...r.steps.flatMap((s, i) => {
    const { from, to, busy } = times[i];
    const bar = from ? el("span", { class: `bar st-${s.status}` }) : null;
    const width = Math.max(0.5, Math.min(100, (100 * (to - from)) / span));
    const left = Math.min(100 - width, (100 * (from - start)) / span);
    if (bar) Object.assign(bar.style, { left: `${left}%`, width: `${width}%` });
    const took = from && (busy || s.finished_at) ? duration(to - from) + (busy ? "…" : "") : "";
    const rows = [el("tr", { "data-step": s.name }, el("td", { class: "mono" }, s.name),
      el("td", {}, el("span", { class: `step st-${s.status}` }, s.status)),
      el("td", {}, String(s.attempts || "")),
      el("td", {}, from ? clock(s.started_at) : ""), el("td", {}, took),
      el("td", { class: "timeline" }, bar))];
    if (s.error) rows.push(el("tr", { class: "step-error" }, el("td", { colspan: 6 }, `⚠ ${s.error}`)));
    return rows;
  }));
}

function eventItem(ev) {
  const { next_at: next, ...rest } = ev.data || {};
  const data = Object.entries(rest).filter(([, v]) => v !== null && v !== "" && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .concat(next ? [`next try in ${duration(Date.parse(next) - Date.parse(ev.at))}`] : []).join("  ");
  const tone = ev.kind === "task.error" ? "bad" : ev.kind === "task.retry" ? "warn" : "";
  return el("li", { class: tone, "data-kind": ev.kind }, el("span", { class: "seq" }, `#${ev.seq}`),
    el("time", { title: ev.at }, clock(ev.at)), el("span", { class: "kind" }, ev.kind), badge(ev.status),
    el("span", { class: "data" }, data));
}

// ---- the conversation: follow-ups, and the agent's messages (ACP session/update) ------------------

function talk(ev, list) { // one session event into the list; text chunks join the message before them
  if (ev.kind === "session.prompt") return void list.append(el("li", { class: "you" }, ev.data.text));
  const message = ev.data.message;
  const update = message?.params?.update;
  const kind = update?.sessionUpdate;
  if (kind === "agent_message_chunk" || kind === "agent_thought_chunk") {
    const text = update.content?.text ?? "";
    const last = list.lastElementChild;
    if (last?.dataset.update === kind) last.textContent += text;
    else list.append(el("li", { class: kind === "agent_thought_chunk" ? "agent thought" : "agent",
      "data-update": kind }, text));
    return;
  }
  if (kind === "tool_call" || kind === "tool_call_update") {
    const line = `${update.title ?? update.toolCallId ?? "tool"} ${update.status ?? ""}`.trim();
    return void list.append(el("li", { class: "tool", "data-update": kind }, `⚙ ${line}`));
  }
  if (kind === "plan") {
    const steps = (update.entries ?? []).map((e) => `${e.status === "completed" ? "✓" : "·"} ${e.content}`);
    return void list.append(el("li", { class: "plan", "data-update": kind }, steps.join("\n")));
  }
  const label = kind ?? message?.method ?? (message && "result" in message ? "result" : "message");
  const body = JSON.stringify(message ?? ev.data.truncated, null, 1);
  list.append(el("li", { class: "other", "data-update": label },
    el("details", {}, el("summary", {}, label), el("pre", {}, body)))); // folded, viewable
}

const WARNINGS = {
  retry: "Retry this task? It continues from the step that failed, with a fresh attempt budget.",
  archive: "Archive this task? Its agent is stopped and its checkout removed; the branch is kept.",
  kill: "Kill this task? Its agent is stopped, its checkout removed and its branch deleted.",
  delete: "Delete this task? Its database and logs are removed for good.",
};
function confirmDialog(text, label) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = label;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}
async function act(action) {
  const d = state.detail;
  const label = action[0].toUpperCase() + action.slice(1);
  if (!d || !(await confirmDialog(`${WARNINGS[action]}\n\n“${d.record?.title || d.id}”`, label))) return;
  try {
    const record = action === "delete"
      ? await api("DELETE", `/v1/tasks/${d.id}`)
      : await api("POST", `/v1/tasks/${d.id}/${action}`);
    showError($("#d-action-error"), null);
    if (action === "delete") { state.tasks.delete(d.id); location.hash = `#/${enc(state.ws)}`; }
    else if (state.detail === d) { upsert(summaryOf(record)); renderDetail(record); scheduleRender(); }
  } catch (err) { showError($("#d-action-error"), err); }
}

// ---- forms ---------------------------------------------------------------------------------------

function onSubmit(form, send) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = $(".form-error", form);
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try { await send(Object.fromEntries(new FormData(form))); showError(box, null); }
    catch (err) { showError(box, err.code ? err : { code: "network_error", message: String(err) }); }
    finally { button.disabled = false; }
  });
}

onSubmit($("#project-form"), async ({ name, repo }) => {
  await api("POST", `/v1/workspaces/${enc(state.ws)}/projects`, { name, repo });
  $("#project-form").reset();
  await loadProjects();
  $("#task-form [name=project]").value = name;
});
onSubmit($("#say-form"), async ({ text }) => {
  await api("POST", `/v1/tasks/${state.detail.id}/messages`, { text });
  $("#say-form [name=text]").value = "";
});
onSubmit($("#task-form"), async ({ project, prompt, title, branch, agent, provider }) => {
  if (!project) throw { code: "no_project", message: "register a project first" };
  const body = { prompt, agent }; // optional fields left empty are left out: the API picks their defaults
  Object.assign(body, title && { title }, branch && { branch }, provider && { provider });
  const record = await api("POST", `/v1/workspaces/${enc(state.ws)}/projects/${enc(project)}/tasks`, body);
  for (const field of ["prompt", "title", "branch"]) $(`#task-form [name=${field}]`).value = "";
  upsert(summaryOf(record));
  location.hash = `#/${enc(state.ws)}/${record.id}`;
});

// ---- routing: #/<workspace>[/<task id>] ----------------------------------------------------------

async function route() {
  const [ws, taskId] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if ((ws || "default") !== state.ws || !state.feed) {
    state.ws = ws || "default";
    $("#workspace").value = state.ws;
    followWorkspace();
    await loadProjects().catch((err) => showError($("#project-form .form-error"), err));
  }
  if (taskId && taskId !== state.detail?.id) openTask(taskId);
  else if (!taskId && state.detail) closeTask();
}

$("#workspace").onchange = (e) => { location.hash = `#/${enc(e.target.value)}`; };
$("#filter").onchange = renderTasks;
$("#d-close").onclick = (e) => { e.preventDefault(); location.hash = `#/${enc(state.ws)}`; };
for (const b of document.querySelectorAll("#detail .actions button")) b.onclick = () => act(b.dataset.action);
window.addEventListener("hashchange", route);
const AT_REST = ["running", "idle", "error", "archived", "killed"];
setInterval(() => { // relative times age, a step in flight grows: text redrawn locally, nothing fetched
  for (const t of document.querySelectorAll("time[datetime]")) t.textContent = ago(t.dateTime);
  const record = state.detail?.record;
  if (record && !AT_REST.includes(record.status)) renderSteps(record);
}, 1000);
loadWorkspaces().catch(() => {}).then(route);
