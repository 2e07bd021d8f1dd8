// The workers view: who is connected to this server, for which types, how busy, and each job
// it holds with its lease's expiry. Live without polling: `workers.watch` when a session starts
// gives the list, and the server pushes the whole list again (a `workers` frame) whenever a
// worker starts or stops, a job starts or ends, or a heartbeat moves a lease. While the view is
// open a local one-second tick only redraws the times ("lease expires in 20s").
import { $, el, setText } from "./dom.js";
import { absTime, relTime, shortId } from "./format.js";

export class WorkersView {
  #root;
  #conn;
  #store;
  #onOpen;
  #workers = null; // the last list, or null before the first
  #received = 0; // when it arrived (ms)
  #tick = null;
  #visible = false;

  constructor(root, { conn, store, onOpen }) {
    this.#root = root;
    this.#conn = conn;
    this.#store = store;
    this.#onOpen = onOpen;
    conn.addEventListener("session", () => this.watch());
    conn.addEventListener("workers", (e) => this.#apply(e.detail));
    $("tbody", root).addEventListener("click", (e) => {
      const link = e.target.closest("[data-id]");
      if (link) this.#onOpen(link.dataset.id);
    });
  }

  setVisible(visible) {
    this.#visible = visible;
    clearInterval(this.#tick);
    this.#tick = null;
    if (visible) {
      this.#draw();
      this.#tick = setInterval(() => this.#draw(), 1000);
    }
  }

  /** Fetch the list and watch it (again after every reconnect: a session starts afresh). */
  async watch() {
    if (!this.#conn.may("workers.watch")) return;
    try {
      this.#apply(await this.#conn.call("workers.watch", {}));
    } catch (err) {
      setText($("#workers-note", this.#root), err.code === "unavailable" ? "Waiting for the connection…" : `Could not list workers: ${err.message}`);
    }
  }

  #apply(workers) {
    this.#workers = workers;
    this.#received = Date.now();
    this.#root.dataset.updates = String(Number(this.#root.dataset.updates || 0) + 1);
    if (this.#visible) this.#draw();
  }

  #draw() {
    const workers = this.#workers;
    if (!workers) return;
    const now = Date.now() / 1000;
    const running = workers.reduce((n, w) => n + (w.running || []).length, 0);
    const slots = workers.reduce((n, w) => n + (w.concurrency || 0), 0);
    setText(
      $("#workers-note", this.#root),
      `${workers.length} connected · ${running} of ${slots} slots busy · live, changed ${relTime(this.#received / 1000, now)}`,
    );
    $("#workers-empty", this.#root).hidden = workers.length > 0;
    $("tbody", this.#root).replaceChildren(
      ...workers
        .slice()
        .sort((a, b) => (a.worker_id < b.worker_id ? -1 : 1))
        .map((w) => this.#row(w, now)),
    );
  }

  #row(w, now) {
    const busy = (w.running || []).length;
    const load = w.concurrency ? Math.min(100, (100 * busy) / w.concurrency) : 0;
    const jobs = w.jobs || (w.running || []).map((id) => ({ id }));
    return el(
      "tr",
      { dataset: { worker: w.worker_id } },
      el("td", {}, el("code", { class: "id", text: w.worker_id })),
      el("td", { text: w.user || "—" }),
      el(
        "td",
        {},
        ...(w.types || []).map((t) => el("span", { class: "tag", text: t })),
        // worker.pause: it keeps its running jobs and is pushed no new ones
        ...(w.paused ? [el("span", { class: "tag paused", text: "paused" })] : []),
      ),
      el(
        "td",
        { class: "load" },
        el(
          "div",
          { class: "meter" },
          el("div", { class: "bar" }, barFill(load)),
          el("span", { class: "num", text: `${busy} / ${w.concurrency}` }),
        ),
      ),
      el(
        "td",
        { class: "running" },
        jobs.length
          ? jobs.map((job) => {
              const type = job.type || this.#store.get(job.id)?.type || "";
              const lease = job.expires ? `lease ${relTime(job.expires, now)}` : "";
              return el(
                "button",
                {
                  class: "link",
                  type: "button",
                  dataset: { id: job.id, expires: job.expires ?? "" },
                  title: `${job.id}${job.started ? `, started ${absTime(job.started)}` : ""}${job.expires ? `, lease expires ${absTime(job.expires)}` : ""}`,
                },
                el("code", { class: "id", text: shortId(job.id) }),
                type ? ` ${type}` : "",
                lease ? el("span", { class: "muted small lease", text: ` · ${lease}` }) : "",
              );
            })
          : el("span", { class: "muted", text: "idle" }),
      ),
      el("td", { class: "time", text: relTime(w.since, now), title: absTime(w.since) }),
    );
  }
}

/** A load bar's fill: its width set through the style property, which the page's
 * Content-Security-Policy allows (a style attribute it refuses). */
function barFill(percent) {
  const fill = el("div", { class: "fill" });
  fill.style.width = `${percent}%`;
  return fill;
}
