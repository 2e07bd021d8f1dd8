// The Queues view: one row per job type (seen in the jobs or in `types.list`) with its jobs by
// status, whether its queue is paused, its rate limit and global concurrency, and the defaults
// its new jobs get (time limit, retries). Roles that may
// call the `types.*` setters get Pause/Resume, a form for the limits and one for the defaults
// (each also for a type not listed yet: "Limit another type…", "Defaults for another type…",
// "Retention for another type…"), and Drain (`jobs.drain`: its queued jobs cancelled, after a confirmation); the others see the
// same rows.
//
// Rows are kept per type and updated in place, so a button is never replaced under the pointer
// while jobs change many times a second.
import { $, count, el, number, setText, submitDialog, toast } from "./dom.js";
import { DefaultsDialog } from "./defaults.js";
import { RetentionDialog } from "./retention.js";
import { FormDialog } from "./dialog.js";
import { STATUSES } from "./format.js";
import { defaultsText, keptText, rateText } from "./rules.js";

export class QueuesView {
  #root;
  #conn;
  #store;
  #rules;
  #onType;
  #limits;
  #defaults;
  #retention;
  #rows = new Map(); // type -> {tr, cells}
  #busy = new Set(); // types with a pause/resume/drain call in flight
  #visible = false;
  #frame = 0;

  constructor(root, { conn, store, rules, onType }) {
    this.#root = root;
    this.#conn = conn;
    this.#store = store;
    this.#rules = rules;
    this.#onType = onType;
    this.#limits = new LimitsDialog($("#limits-dialog"), { rules });
    this.#defaults = new DefaultsDialog($("#defaults-dialog"), { rules });
    this.#retention = new RetentionDialog($("#retention-dialog"), { rules });
    store.addEventListener("change", () => this.redraw());
    rules.addEventListener("change", () => this.redraw());
    conn.addEventListener("session", () => this.reset());
    $("#queues-add", root).addEventListener("click", () => this.#limits.open(null));
    $("#queues-add-defaults", root).addEventListener("click", () => this.#defaults.open(null));
    $("#queues-add-retention", root).addEventListener("click", () => this.#retention.open(null));
    $("tbody", root).addEventListener("click", (e) => this.#onClick(e));
  }

  setVisible(visible) {
    this.#visible = visible;
    if (visible) this.redraw();
  }

  /** The role may have changed: rebuild the rows with the controls it may use. */
  reset() {
    for (const { tr } of this.#rows.values()) tr.remove();
    this.#rows.clear();
    this.redraw();
  }

  redraw() {
    if (this.#visible && !this.#frame) this.#frame = requestAnimationFrame(() => this.#draw());
  }

  get #mayPause() {
    return this.#conn.may("types.pause") && this.#conn.may("types.resume");
  }

  get #mayDefaults() {
    return this.#conn.may("types.set_time_limit") && this.#conn.may("types.set_retry");
  }

  get #mayRetention() {
    return this.#conn.may("types.set_retain") && this.#conn.may("types.set_keep");
  }

  /** `jobs.drain` is for the roles that manage queues (a creator's bulk call is refused). */
  get #mayDrain() {
    return this.#mayPause && this.#conn.may("jobs.drain");
  }

  #draw() {
    this.#frame = 0;
    const rules = this.#rules;
    const counts = this.#store.byTypeStatus;
    const types = [...new Set([...counts.keys(), ...rules.rules.keys()])].sort((a, b) => a.localeCompare(b));
    const tbody = $("tbody", this.#root);
    const keep = new Set(types);
    for (const [type, row] of this.#rows) {
      if (!keep.has(type)) {
        row.tr.remove();
        this.#rows.delete(type);
      }
    }
    types.forEach((type, i) => {
      let row = this.#rows.get(type);
      if (!row) this.#rows.set(type, (row = this.#makeRow(type)));
      this.#fillRow(row, rules.get(type), counts.get(type));
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
    });
    $("#queues-empty", this.#root).hidden = types.length > 0;
    $("#queues-add", this.#root).hidden = !this.#conn.may("types.set_limits");
    $("#queues-add-defaults", this.#root).hidden = !this.#mayDefaults;
    $("#queues-add-retention", this.#root).hidden = !this.#mayRetention;
    const paused = types.filter((t) => rules.isPaused(t)).length;
    const parts = [`${types.length} ${types.length === 1 ? "type" : "types"}`, `${paused} paused`];
    if (rules.error) parts.push(`rules not refreshed: ${rules.error.message}`);
    else if (rules.updated) parts.push(`rules as of ${new Date(rules.updated).toLocaleTimeString()}`);
    if (!this.#mayPause && !this.#conn.may("types.set_limits") && !this.#mayDefaults && !this.#mayRetention) parts.push("read-only for your role");
    setText($("#queues-note", this.#root), parts.join(" · "));
  }

  #makeRow(type) {
    const cells = {
      state: el("span", { class: "badge" }),
      counts: new Map(STATUSES.map((s) => [s, el("td", { class: "num count", dataset: { status: s } })])),
      rate: el("td", { class: "rate" }),
      concurrency: el("td", { class: "concurrency" }),
      defaults: el("td", { class: "defaults" }),
      kept: el("td", { class: "kept" }),
      toggle: null,
      drain: null,
    };
    const controls = el("td", { class: "controls" });
    if (this.#mayPause) {
      cells.toggle = el("button", { type: "button", class: "btn btn-small" });
      controls.append(cells.toggle);
    }
    const action = (name, text, title) => {
      const button = el("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { action: name }, text, title });
      controls.append(button);
      return button;
    };
    if (this.#conn.may("types.set_limits")) action("edit-limits", "Limits…", `The rate limit and concurrency of ${type} jobs`);
    if (this.#mayDefaults) action("edit-defaults", "Defaults…", `The time limit and retries of new ${type} jobs created without their own`);
    if (this.#mayRetention) action("edit-retention", "Retention…", `How long, and how many of, the finished ${type} jobs are kept`);
    if (this.#mayDrain) cells.drain = action("drain-type", "Drain", `Cancel every waiting, ready and paused ${type} job; running ones finish`);
    const tr = el(
      "tr",
      { dataset: { type } },
      el(
        "td",
        { class: "type" },
        el("button", { type: "button", class: "link", dataset: { action: "show-jobs" }, title: `show the ${type} jobs`, text: type }),
      ),
      el("td", { class: "state" }, cells.state),
      ...cells.counts.values(),
      cells.rate,
      cells.concurrency,
      cells.defaults,
      cells.kept,
      controls,
    );
    return { tr, cells };
  }

  #fillRow({ tr, cells }, rule, counts) {
    const paused = Boolean(rule && rule.paused);
    tr.dataset.paused = String(paused);
    setText(cells.state, paused ? "paused" : "active");
    cells.state.className = `badge ${paused ? "q-paused" : "q-active"}`;
    cells.state.title = paused ? "No new job of this type starts; running ones finish." : "Jobs of this type start as workers take them.";
    for (const [status, td] of cells.counts) {
      const n = (counts && counts.get(status)) || 0;
      setText(td, n.toLocaleString());
      td.classList.toggle("zero", n === 0);
    }
    setText(cells.rate, rateText(rule) || "—");
    cells.rate.title = rule && rule.rate_limit != null ? `at most ${rule.rate_limit} starts in any ${rule.rate_per} seconds` : "no rate limit";
    const conc = rule && rule.concurrency != null ? rule.concurrency : null;
    const perGroup = rule?.group_concurrency != null ? ` · ≤ ${rule.group_concurrency} per group` : "";
    setText(cells.concurrency, (conc === null ? "—" : `≤ ${conc.toLocaleString()} running`) + perGroup);
    cells.concurrency.title = conc === null ? "no limit across workers" : `at most ${conc} running at once across all workers`;
    const defaults = defaultsText(rule);
    setText(cells.defaults, defaults || "—");
    cells.defaults.title = defaults ? "what the type's jobs created without their own get" : "no defaults of the type";
    const kept = keptText(rule);
    setText(cells.kept, kept || "—");
    cells.kept.title = kept ? "how long, or how many of, the type's finished jobs are kept" : "the server's retention";
    if (cells.toggle) {
      const action = paused ? "resume-type" : "pause-type";
      if (cells.toggle.dataset.action !== action) {
        cells.toggle.dataset.action = action;
        setText(cells.toggle, paused ? "Resume" : "Pause");
        cells.toggle.classList.toggle("btn-warning", !paused);
      }
      cells.toggle.disabled = this.#busy.has(tr.dataset.type);
    }
    if (cells.drain) {
      const queued = QUEUED.reduce((n, s) => n + ((counts && counts.get(s)) || 0), 0);
      cells.drain.disabled = queued === 0 || this.#busy.has(tr.dataset.type);
    }
  }

  #onClick(e) {
    const button = e.target.closest("button[data-action]");
    const tr = e.target.closest("tr[data-type]");
    if (!button || !tr) return;
    const type = tr.dataset.type;
    switch (button.dataset.action) {
      case "show-jobs":
        this.#onType(type);
        return;
      case "edit-limits":
        this.#limits.open(type);
        return;
      case "edit-defaults":
        this.#defaults.open(type);
        return;
      case "edit-retention":
        this.#retention.open(type);
        return;
      case "pause-type":
      case "resume-type":
        this.#toggle(type, button.dataset.action === "pause-type");
        return;
      case "drain-type":
        this.#drain(type);
        return;
    }
  }

  async #drain(type) {
    if (this.#busy.has(type)) return;
    // the type as JSON: a name holding newlines could otherwise add lines of its own to the question
    const named = JSON.stringify(type);
    if (!window.confirm(`Cancel every waiting, ready and paused job of type ${named}? Running ones finish.`)) return;
    this.#busy.add(type);
    this.redraw();
    try {
      const { cancelled } = await this.#conn.call("jobs.drain", { filter: { type } });
      toast(`Drained the ${type} queue: ${cancelled.toLocaleString()} cancelled`, "success", 2500);
    } catch (err) {
      toast(`Drain ${type} failed: ${err.message}`, "danger");
    } finally {
      this.#busy.delete(type);
      this.redraw();
    }
  }

  async #toggle(type, pause) {
    if (this.#busy.has(type)) return;
    this.#busy.add(type);
    this.redraw();
    try {
      await (pause ? this.#rules.pause(type) : this.#rules.resume(type));
      toast(pause ? `Paused the ${type} queue: no new job of it starts` : `Resumed the ${type} queue`, "success", 2500);
    } catch (err) {
      toast(`${pause ? "Pause" : "Resume"} ${type} failed: ${err.message}`, "danger");
    } finally {
      this.#busy.delete(type);
      this.redraw();
    }
  }
}

const MAX_PER = 86400 * 31; // the server's bound on rate_per
const QUEUED = ["waiting", "ready", "paused"]; // what jobs.drain cancels

/** The form behind "Limits…": an empty field means no limit (the server removes it). */
class LimitsDialog extends FormDialog {
  constructor(dialog, { rules }) {
    super(dialog, { rules, name: "limits", title: "Limits", first: "rate_limit" });
  }

  fill(rule) {
    const f = this.form.elements;
    f.rate_limit.value = rule?.rate_limit ?? "";
    f.rate_per.value = rule?.rate_per ?? "";
    f.concurrency.value = rule?.concurrency ?? "";
  }

  /** The `types.set_limits` params from the form, or throws with a message for the user. */
  limits() {
    const f = this.form.elements;
    const type = f.type.value.trim();
    if (!type) throw new Error("A type is required.");
    const rateLimit = count(f.rate_limit, "The rate limit", 1);
    const ratePer = number(f.rate_per, "The window");
    const concurrency = count(f.concurrency, "Concurrency", 0);
    if ((rateLimit === null) !== (ratePer === null)) {
      throw new Error("Give both a number of jobs and a window in seconds, or neither.");
    }
    if (ratePer !== null && (ratePer <= 0 || ratePer > MAX_PER)) {
      throw new Error(`The window must be more than 0 and at most ${MAX_PER.toLocaleString()} seconds.`);
    }
    return { type, rate_limit: rateLimit, rate_per: ratePer, concurrency };
  }

  async submit() {
    const error = $("#limits-error", this.dialog);
    await submitDialog(this.dialog, this.form, error, () => this.limits(), async (limits) => {
      await this.save(limits.type, (rev) => this.rules.setLimits(limits.type, limits, rev));
      toast(`Saved the limits of ${limits.type}`, "success", 2500);
    });
  }
}
