// The job detail panel: facts, data/result JSON, failures, dependencies, the growing log,
// the audit trail, and the actions the signed-in role may use.
import { ConfirmGate, allowedActions, applies, runAction } from "./actions.js";
import { $, el, setFacts, setText } from "./dom.js";
import { STATUSES, absTime, clockTime, jsonView, relTime, workerOf } from "./format.js";
import { failureBody, retryText } from "./failure.js";
import { FINISHED, STATUS } from "./names.js";
import { PriorityControl } from "./priority.js";
import { keptText, rateText } from "./rules.js";

const LEVELS = new Set(["info", "success", "warning", "danger"]);

export class DetailPanel extends EventTarget {
  id = null;

  #root;
  #store;
  #conn;
  #rules;
  #frame = 0;
  #json = new Map(); // section -> last rendered JSON text
  #logCount = 0;
  #logLast = null;
  #confirm = new ConfirmGate();
  #neededBy = new Set();
  #priority;

  constructor(root, { store, conn, rules }) {
    super();
    this.#root = root;
    this.#store = store;
    this.#conn = conn;
    this.#rules = rules;
    this.#priority = new PriorityControl(conn, () => this.redraw());
    rules.addEventListener("change", () => this.id && this.redraw());
    $("#detail-log-transitions", root).addEventListener("change", (e) => {
      $("#detail-log", root).classList.toggle("no-audit", !e.target.checked);
    });
    store.addEventListener("change", (e) => {
      if (this.id && (e.detail.full || e.detail.ids.has(this.id) || this.#related(e.detail.ids))) {
        this.redraw();
      }
    });
    $("#detail-close", root).addEventListener("click", () => this.close());
    $("#detail-copy", root).addEventListener("click", () => {
      if (this.id && navigator.clipboard) navigator.clipboard.writeText(this.id).catch(() => {});
    });
    const deps = $("#detail-deps", root);
    deps.addEventListener("click", (e) => {
      const item = e.target.closest("[data-id]");
      if (item) this.show(item.dataset.id);
    });
    deps.addEventListener("keydown", (e) => {
      const item = e.target.closest("[data-id]");
      if (item && e.key === "Enter") this.show(item.dataset.id);
    });
  }

  /** Did a job this one waits for, or one that waits (or waited) for it, change? */
  #related(ids) {
    const waitsFor = this.#store.get(this.id)?.depends || [];
    for (const id of ids) {
      if (this.#neededBy.has(id) || waitsFor.includes(id)) return true;
      if ((this.#store.get(id)?.depends || []).includes(this.id)) return true;
    }
    return false;
  }

  show(id) {
    if (id !== this.id) {
      this.id = id;
      this.#json.clear();
      this.#logCount = 0;
      this.#logLast = null;
      $("#detail-log", this.#root).replaceChildren();
      this.#root.scrollTop = 0;
    }
    this.#root.hidden = false;
    this.dispatchEvent(new CustomEvent("open", { detail: { id } }));
    this.redraw();
  }

  close() {
    this.id = null;
    this.#root.hidden = true;
    this.dispatchEvent(new CustomEvent("open", { detail: { id: null } }));
  }

  /** The role's methods changed (a new session): rebuild the action buttons. */
  resetActions() {
    $("#detail-actions", this.#root).replaceChildren();
    this.redraw();
  }

  redraw() {
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.#draw());
  }

  #draw() {
    this.#frame = 0;
    if (!this.id) return;
    const doc = this.#store.get(this.id);
    const root = this.#root;
    root.classList.toggle("gone", !doc);
    setText($("#detail-id", root), this.id);
    if (!doc) {
      setText($("#detail-type", root), this.#store.loaded ? "Job not visible" : "Loading…");
      setText($("#detail-status", root), "");
      $("#detail-body", root).hidden = true;
      return;
    }
    $("#detail-body", root).hidden = false;
    setText($("#detail-type", root), doc.type);
    const badge = $("#detail-status", root);
    setText(badge, doc.status);
    badge.className = `badge s-${STATUSES.includes(doc.status) ? doc.status : "unknown"}`;
    this.#drawActions(doc);
    this.#drawFacts(doc);
    this.#drawJson("data", doc.data);
    this.#drawJson("result", doc.result, doc.status !== STATUS.COMPLETED && doc.result == null);
    // what its dependencies returned, as its worker receives it with the job
    this.#drawJson("results", doc.results, !doc.results || !Object.keys(doc.results).length);
    this.#drawFailures(doc);
    this.#drawDeps(doc);
    this.#drawLog(doc);
  }

  #drawActions(doc) {
    const box = $("#detail-actions", this.#root);
    const actions = allowedActions(this.#conn);
    if (box.childElementCount !== actions.length) {
      box.replaceChildren(
        ...actions.map((action) =>
          el("button", {
            class: `btn ${action.kind ? `btn-${action.kind}` : ""}`,
            type: "button",
            dataset: { action: action.name },
            text: action.label,
            onclick: (e) => this.#act(action, e.currentTarget),
          }),
        ),
      );
    }
    for (const action of actions) {
      const button = box.querySelector(`[data-action="${action.name}"]`);
      const ok = applies(action, doc.status);
      button.disabled = !ok;
      button.title = ok ? `${action.method}` : `not possible while ${doc.status}`;
    }
    $("#detail-actions-empty", this.#root).hidden = actions.length > 0;
  }

  async #act(action, button) {
    const id = this.id;
    if (!this.#confirm.pass(action, button)) return;
    button.disabled = true;
    const result = await runAction(this.#conn, action, id);
    if (result && action.name === "rerun" && result.id) this.show(result.id);
    else if (result && action.name === "remove" && this.id === id) this.close();
    else this.redraw();
  }

  #drawFacts(doc) {
    const now = Date.now() / 1000;
    const retries = doc.retry ? doc.retry.retries : 0;
    const facts = [
      ["Priority", this.#priority.fact(doc)], // a select while its role may change it
      ["Attempts", `${doc.attempts} of ${retries + 1}`],
      ["Owner", doc.owner ?? "—"],
      ["Worker", workerOf(doc) || "—"],
      ["Created", timeFact(doc.created, now)],
      ["Updated", timeFact(doc.updated, now)],
      ["Started", timeFact(doc.started, now)],
      ["Finished", timeFact(doc.finished, now)],
    ];
    const retry = retryText(doc);
    if (retry) facts.push(["Next attempt", retry]);
    else if (doc.status === STATUS.WAITING && doc.after) facts.push(["Not before", timeFact(doc.after, now)]);
    if (doc.reason) facts.push(["Reason", doc.reason]);
    if (doc.key) facts.push(["Key", doc.key]);
    if (doc.group) facts.push(["Group", doc.group]);
    if (doc.time_limit) facts.push(["Time limit", `${doc.time_limit}s per attempt`]);
    const kept = keptText(doc); // its own rules: the type's are in the "Queue" fact's view
    if (kept) facts.push(["Kept", kept]);
    const removal = removalTime(doc);
    if (removal != null) facts.push(["Removed after", timeFact(removal, now)]);
    if (doc.lease?.deadline) facts.push(["Stopped at", timeFact(doc.lease.deadline, now)]);
    if (doc.repeat) facts.push(["Repeat", doc.repeat.cron ? `cron ${doc.repeat.cron}` : `every ${doc.repeat.every}s${doc.repeat.fixed ? ", fixed steps" : ""} (run ${doc.repeat.run || 1})`]);
    if (doc.expire_at) facts.push(["Expires", timeFact(doc.expire_at, now)]);
    if (doc.target) facts.push(["Target", doc.target]);
    if (doc.lease) facts.push(["Lease until", timeFact(doc.lease.expires, now)]);
    const queue = queueFact(this.#rules.get(doc.type));
    if (queue) facts.push(["Queue", queue]);
    setFacts($("#detail-facts", this.#root), facts);
    const p = doc.progress || { completed: 0, total: 0, percent: 0 };
    $("#detail-fill", this.#root).style.width = `${Math.max(0, Math.min(100, p.percent || 0))}%`;
    setText(
      $("#detail-progress-text", this.#root),
      p.total ? `${p.completed} / ${p.total} · ${Math.round(p.percent)}%` : `${Math.round(p.percent || 0)}%`,
    );
  }

  #drawJson(name, value, hide = false) {
    const section = $(`#detail-${name}`, this.#root);
    // a field the server does not send this role (a worker reads no data) is not drawn
    section.hidden = hide || value === undefined;
    const text = JSON.stringify(value) ?? "";
    if (this.#json.get(name) === text) return;
    this.#json.set(name, text);
    $(".json-box", section).replaceChildren(jsonView(value));
  }

  #drawFailures(doc) {
    const section = $("#detail-failures", this.#root);
    const failures = doc.failures || [];
    section.hidden = failures.length === 0;
    setText($("h3 .n", section), failures.length);
    const retry = $(".retry", section);
    setText(retry, retryText(doc));
    retry.hidden = !retry.textContent;
    const text = JSON.stringify(failures);
    if (this.#json.get("failures") === text) return;
    this.#json.set("failures", text);
    $("ol", section).replaceChildren(
      ...failures
        .slice()
        .reverse()
        .map((f) =>
          el(
            "li",
            { class: "failure" },
            el(
              "div",
              { class: "failure-head" },
              el("strong", { text: `Attempt ${f.attempt}` }),
              el("span", { class: "muted", text: ` · ${absTime(f.time)}${f.worker ? ` · ${f.worker}` : ""}` }),
            ),
            ...failureBody(f.error),
          ),
        ),
    );
  }

  #drawDeps(doc) {
    // The server drops a dependency from `depends` once it completes (see the audit trail).
    const section = $("#detail-deps", this.#root);
    const waitsFor = doc.depends || [];
    const neededBy = [];
    for (const other of this.#store.jobs.values()) {
      if (other.depends && other.depends.includes(doc.id)) neededBy.push(other.id);
    }
    this.#neededBy = new Set(neededBy);
    section.hidden = waitsFor.length === 0 && neededBy.length === 0;
    const waits = $("#detail-waits", section);
    const needed = $("#detail-needed", section);
    waits.hidden = waitsFor.length === 0;
    needed.hidden = neededBy.length === 0;
    setText($(".n", waits), waitsFor.length);
    setText($(".n", needed), neededBy.length);
    $("ul", waits).replaceChildren(...waitsFor.map((id) => this.#depItem(id)));
    $("ul", needed).replaceChildren(...neededBy.map((id) => this.#depItem(id)));
  }

  #depItem(id) {
    const dep = this.#store.get(id);
    return el(
      "li",
      { class: "dep", dataset: { id }, tabindex: 0 },
      el("code", { class: "id", text: id }),
      dep
        ? el("span", { class: `badge s-${STATUSES.includes(dep.status) ? dep.status : "unknown"}`, text: dep.status })
        : el("span", { class: "muted", text: "not visible" }),
      dep ? el("span", { class: "muted", text: dep.type }) : null,
    );
  }

  #drawLog(doc) {
    const log = doc.log || [];
    const list = $("#detail-log", this.#root);
    setText($("#detail-log-count", this.#root), log.length);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    // The log only grows, except when the server trims it: then start over.
    const prefixOk = this.#logCount <= log.length && (this.#logCount === 0 || sameEntry(log[this.#logCount - 1], this.#logLast));
    if (!prefixOk) {
      list.replaceChildren();
      this.#logCount = 0;
    }
    const fresh = log.slice(this.#logCount).map((entry) => logEntry(entry));
    if (fresh.length) list.append(...fresh);
    this.#logCount = log.length;
    this.#logLast = log[log.length - 1] || null;
    if (atBottom && fresh.length) list.scrollTop = list.scrollHeight; // follow a growing log
    this.#drawAudit(doc);
  }

  #drawAudit(doc) {
    // Who changed the job and when; a worker's own messages stay in the log above.
    const rows = (doc.log || []).filter(isAudit);
    const body = $("#detail-audit tbody", this.#root);
    const key = `${rows.length}:${rows.length ? rows[rows.length - 1].time : 0}`;
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    body.replaceChildren(
      ...rows.map((e) =>
        el(
          "tr",
          {},
          el("td", { class: "time", text: clockTime(e.time), title: absTime(e.time) }),
          el("td", { class: "by", text: e.by || "—" }),
          el("td", { text: e.message }),
        ),
      ),
    );
  }
}

/** The type's flow rules in a line ("paused · 100 / 60 s · ≤ 3 running"), or "" without any. */
function queueFact(rule) {
  if (!rule) return "";
  const parts = [];
  if (rule.paused) parts.push("paused: no new job of this type starts");
  if (rateText(rule)) parts.push(`rate ${rateText(rule)}`);
  if (rule.concurrency != null) parts.push(`≤ ${rule.concurrency} running`);
  return parts.join(" · ");
}

/** When a finished job's retention removes it: the scheduler's `due` (staff see it; it counts
 * the type's and the server's retention too), else its own `retain` after it finished. */
function removalTime(doc) {
  if (!FINISHED.includes(doc.status)) return null;
  if (doc.due != null) return doc.due;
  return doc.retain != null && doc.finished != null ? doc.finished + doc.retain : null;
}

function timeFact(t, now) {
  if (t === null || t === undefined) return "—";
  return `${relTime(t, now)} · ${absTime(t)}`;
}

function sameEntry(a, b) {
  return Boolean(a && b && a.time === b.time && a.message === b.message && a.by === b.by);
}

function logEntry(entry) {
  const level = LEVELS.has(entry.level) ? entry.level : "info";
  const kind = isAudit(entry) ? "audit" : "log";
  return el(
    "li",
    { class: `log-entry l-${level} k-${kind}`, dataset: { kind } },
    el("span", { class: "time", text: clockTime(entry.time), title: absTime(entry.time) }),
    el("span", { class: "level", text: level }),
    el("span", { class: "message", text: entry.message }),
    entry.by ? el("span", { class: "by", text: entry.by }) : null,
    entry.data !== null && entry.data !== undefined ? jsonView(entry.data) : null,
  );
}

// Entries say `kind`: "audit" for the server's record of a transition, "log" for jobs.log lines.
// Entries stored before servers said so are told apart by the lifecycle's wording
// (server/jobs/lifecycle.py).
const TRANSITION = /^(created|started by worker|completed$|failed: |will retry in |snoozed for |cancelled|restarted$|paused$|resumed$|made ready now$|dependencies done: |expired: |run \d+ of repeating job)/;

function isAudit(entry) {
  if (entry.kind !== undefined && entry.kind !== null) return entry.kind === "audit";
  return TRANSITION.test(entry.message || "");
}
