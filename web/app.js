// Wires the dashboard together: sign-in, the one connection, its subscriptions (the table's
// page as a live window, the open job, the live counts), the views.
import { CreateForm } from "./js/create.js";
import { ConnState, Connection } from "./js/connection.js";
import { DetailPanel } from "./js/detail.js";
import { $, setText, toast } from "./js/dom.js";
import { JobStore } from "./js/store.js";
import { QueuesView } from "./js/queues.js";
import { TypeRules } from "./js/rules.js";
import { Router } from "./js/route.js";
import { JobsTable } from "./js/table.js";
import { allowedActions } from "./js/actions.js";
import { Summary } from "./js/summary.js";
import { ThroughputChart } from "./js/chart.js";
import { WorkersView } from "./js/workers.js";
import { SchedulesView } from "./js/schedules.js";

const TOKEN_KEY = "livejobs.token";
const WS_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;

const conn = new Connection(WS_URL, null, { probeUrl: `${location.origin}/readyz` });
const store = new JobStore();
conn.subscribe({}, (event) => event.kind === "counts" && store.applyCounts(event), { counts: true });
const rules = new TypeRules(conn);

const detail = new DetailPanel($("#detail"), { store, conn, rules });
const table = new JobsTable($("#jobs-view"), { store, conn, onOpen: (id) => detail.show(id) });
new Summary({ store, table, rules });
new ThroughputChart($("#throughput canvas"), $("#throughput-rate"), store, conn);
const workers = new WorkersView($("#workers-view"), { conn, store, onOpen: openFromElsewhere });
const schedules = new SchedulesView($("#schedules-view"), { conn, store, onOpen: openFromElsewhere });
const queues = new QueuesView($("#queues-view"), {
  conn,
  store,
  rules,
  onType: (type) => {
    showView("jobs");
    table.setFilter({ type, status: "" });
  },
});
const createForm = new CreateForm($("#create-dialog"), { conn, onCreated: (job) => detail.show(job.id) });

// The table's page is a live window on the server: a new one when the page, sort or filter
// changes (docs/protocol.md, "Live windows").
let windowSub = null;
let windowKey = "";
function subscribeWindow() {
  const { filter, ...extra } = table.query;
  const key = JSON.stringify(table.query);
  if (windowSub && key === windowKey) return;
  windowKey = key;
  if (windowSub) windowSub.close();
  windowSub = conn.subscribe(filter, (event) => store.apply(event), extra);
}
table.addEventListener("query", subscribeWindow);

// The job open in the detail panel, wherever it is: its own subscription.
let followed = null;
function follow(id) {
  if (followed) followed.close();
  followed = id ? conn.subscribe({ id }, (event) => store.applyFollowed(event)) : null;
  if (!id) store.applyFollowed({ kind: "snapshot", docs: new Map() });
}

function openFromElsewhere(id) {
  showView("jobs");
  detail.show(id);
}

// -- sign-in ----------------------------------------------------------------------------------

function signIn(token) {
  router.start(); // a link followed before sign-in opens its view now
  sessionStorage.setItem(TOKEN_KEY, token);
  document.body.dataset.auth = "signed-in";
  conn.setToken(token);
  conn.start();
}

function signOut(message = "") {
  conn.stop();
  sessionStorage.removeItem(TOKEN_KEY);
  store.clear();
  rules.clear();
  quietly(() => detail.close()); // the URL keeps the view for the next sign-in
  showSignIn(message);
}

function showSignIn(message = "") {
  document.body.dataset.auth = "signed-out";
  setText($("#signin-error"), message);
  const field = $("#signin-token");
  field.value = "";
  field.focus();
}

$("#signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("#signin-token").value.trim();
  if (token) signIn(token);
});
$("#signout").addEventListener("click", () => signOut());

conn.addEventListener("authfailed", (e) => signOut(`The server refused this token: ${e.detail.message}`));
conn.addEventListener("suberror", (e) => toast(`Subscription refused: ${e.detail.message}`, "danger", 8000));

conn.addEventListener("session", (e) => {
  const { user, role } = e.detail;
  setText($("#who-user"), user);
  setText($("#who-role"), role);
  $("#new-job").hidden = !conn.may("jobs.create");
  $("#tab-workers").hidden = !conn.may("workers.watch");
  $("#tab-queues").hidden = !conn.may("types.list");
  $("#tab-schedules").hidden = !conn.may("schedules.list");
  // no selection boxes for a role that may not act on the jobs it selects
  document.body.classList.toggle("no-actions", allowedActions(conn).length === 0);
  if (document.querySelector(`[data-view="${currentView}"]`).hidden) showView("jobs", { replace: true });
  detail.resetActions();
  table.redraw();
  $("#conn").dataset.sessions = String(conn.sessions);
});

// -- connection state -------------------------------------------------------------------------

const STATE_TEXT = {
  [ConnState.CONNECTING]: "Connecting…",
  [ConnState.ONLINE]: "Live",
  [ConnState.STOPPED]: "Signed out",
};
let countdown = null;
let lastReason = "";

const TRY_AGAIN_LATER = 1013; // the server refused a new session while draining (docs/protocol.md)

function drawState() {
  const badge = $("#conn");
  badge.dataset.state = conn.state;
  // when the next attempt is due (ms since epoch), while offline
  if (conn.state === ConnState.OFFLINE) badge.dataset.retryAt = String(Math.round(conn.retryAt));
  else delete badge.dataset.retryAt;
  clearInterval(countdown);
  countdown = null;
  if (conn.state === ConnState.OFFLINE) {
    drawOffline(badge);
  } else if (conn.state === ConnState.ONLINE && conn.serverState === "draining") {
    // one server state, as /readyz and the protocol say it: shutting down, jobs finishing
    badge.dataset.state = "draining";
    setText($("#conn-text"), "Draining");
    badge.title = "The server is shutting down: running jobs finish, then it closes the connection.";
  } else {
    setText($("#conn-text"), STATE_TEXT[conn.state]);
    badge.title = conn.state === ConnState.ONLINE ? `Connected to ${WS_URL}` : "";
  }
  document.body.classList.toggle("stale", conn.state !== ConnState.ONLINE && document.body.dataset.auth === "signed-in");
}

/** Offline, with a countdown to the next attempt; "Draining" when a draining server refused us. */
function drawOffline(badge) {
  const draining = conn.lastClose && conn.lastClose.code === TRY_AGAIN_LATER;
  if (draining) badge.dataset.state = "draining";
  const label = draining ? "Draining" : "Offline";
  const tick = () => {
    const s = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
    setText($("#conn-text"), s > 0 ? `${label} · retry in ${s}s` : `${label} · retrying…`);
  };
  tick();
  countdown = setInterval(tick, 500);
  const why = conn.lastClose && conn.lastClose.reason;
  badge.title = draining
    ? "The server is shutting down and takes no new session; this page reconnects once it is back."
    : `Connection lost${why ? ` (server: ${why})` : ""}. Click to retry now.`;
  // A server that closes with a reason (other than a restart) is telling the user something.
  if (why && !draining && why !== "server shutting down" && why !== lastReason) {
    toast(`Disconnected by the server: ${why}`, "warning", 8000);
  }
  lastReason = why || lastReason;
}
conn.addEventListener("state", drawState);
conn.addEventListener("server", drawState);
$("#conn").addEventListener("click", () => conn.retryNow());
window.addEventListener("online", () => conn.retryNow());

// -- views ------------------------------------------------------------------------------------

let currentView = "jobs";

function showView(name, { replace = false } = {}) {
  if (!["jobs", "workers", "queues", "schedules"].includes(name)) name = "jobs";
  const changed = name !== currentView;
  currentView = name;
  if (changed) record(replace);
  $("#jobs-view").hidden = name !== "jobs";
  $("#workers-view").hidden = name !== "workers";
  $("#queues-view").hidden = name !== "queues";
  $("#schedules-view").hidden = name !== "schedules";
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  }
  workers.setVisible(name === "workers");
  queues.setVisible(name === "queues");
  schedules.setVisible(name === "schedules");
}
for (const tab of document.querySelectorAll("[data-view]")) {
  tab.addEventListener("click", () => showView(tab.dataset.view));
}
// Arrow keys move between the tabs (the tablist pattern).
$(".tabs").addEventListener("keydown", (e) => {
  if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
  const tabs = [...document.querySelectorAll("[data-view]")].filter((t) => !t.hidden);
  const at = tabs.indexOf(document.activeElement);
  const next = tabs[(at + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
  next.focus();
  next.click();
});
$("#new-job").addEventListener("click", () => createForm.open());

// -- the view in the URL (route.js) ------------------------------------------------------------

let applying = false;
function quietly(fn) {
  applying = true;
  try {
    fn();
  } finally {
    applying = false;
  }
}
const router = new Router({
  read: () => ({ view: currentView, job: detail.id, table: table.state }),
  apply: (state) =>
    quietly(() => {
      showView(state.view);
      table.setState(state.table);
      if (state.job) detail.show(state.job);
      else if (detail.id) detail.close();
    }),
});
const record = (replace) => applying || router.record({ replace });
table.addEventListener("statechange", (e) => record(e.detail.typing));
detail.addEventListener("open", (e) => {
  if (e.detail.id !== (followed && followed.id)) follow(e.detail.id);
  if (followed) followed.id = e.detail.id;
  table.setActive(e.detail.id);
  document.body.classList.toggle("detail-open", Boolean(e.detail.id));
  record(false);
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && detail.id && !document.querySelector("dialog[open]")) detail.close();
});

// Relative times ("12s ago") move on without any change from the server.
setInterval(() => {
  table.redraw();
  if (detail.id) detail.redraw();
}, 5000);

// -- start ------------------------------------------------------------------------------------

drawState();
const saved = sessionStorage.getItem(TOKEN_KEY);
router.start();
subscribeWindow();
if (saved) signIn(saved);
else showSignIn();
