// The workers view: who is connected, for which types, how busy. Refreshed with `workers.list`
// every few seconds while the view is open, and soon after a job starts or stops running.
import { $, el, setText } from "./dom.js";
import { absTime, relTime, shortId } from "./format.js";

const REFRESH_MS = 3000;

export class WorkersView {
  #root;
  #conn;
  #store;
  #onOpen;
  #timer = null;
  #soon = null;
  #visible = false;

  constructor(root, { conn, store, onOpen }) {
    this.#root = root;
    this.#conn = conn;
    this.#store = store;
    this.#onOpen = onOpen;
    store.addEventListener("change", (e) => {
      if (!this.#visible || e.detail.full) return;
      // A job started or finished: the running lists changed. Coalesce into one call.
      if (!this.#soon) this.#soon = setTimeout(() => this.refresh(), 300);
    });
    $("tbody", root).addEventListener("click", (e) => {
      const link = e.target.closest("[data-id]");
      if (link) this.#onOpen(link.dataset.id);
    });
  }

  setVisible(visible) {
    this.#visible = visible;
    clearInterval(this.#timer);
    this.#timer = null;
    if (visible) {
      this.refresh();
      this.#timer = setInterval(() => this.refresh(), REFRESH_MS);
    }
  }

  async refresh() {
    clearTimeout(this.#soon);
    this.#soon = null;
    if (!this.#visible || !this.#conn.may("workers.list")) return;
    let workers;
    try {
      workers = await this.#conn.call("workers.list", {});
    } catch (err) {
      setText($("#workers-note", this.#root), err.code === "unavailable" ? "Waiting for the connection…" : `Could not list workers: ${err.message}`);
      return;
    }
    this.#draw(workers);
  }

  #draw(workers) {
    const now = Date.now() / 1000;
    const running = workers.reduce((n, w) => n + (w.running || []).length, 0);
    const slots = workers.reduce((n, w) => n + (w.concurrency || 0), 0);
    setText(
      $("#workers-note", this.#root),
      `${workers.length} connected · ${running} of ${slots} slots busy · updated ${new Date().toLocaleTimeString()}`,
    );
    $("#workers-empty", this.#root).hidden = workers.length > 0;
    $("tbody", this.#root).replaceChildren(
      ...workers
        .slice()
        .sort((a, b) => (a.worker_id < b.worker_id ? -1 : 1))
        .map((w) => {
          const busy = (w.running || []).length;
          const load = w.concurrency ? Math.min(100, (100 * busy) / w.concurrency) : 0;
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
                el("div", { class: "bar" }, el("div", { class: "fill", style: `width:${load}%` })),
                el("span", { class: "num", text: `${busy} / ${w.concurrency}` }),
              ),
            ),
            el(
              "td",
              { class: "running" },
              busy
                ? (w.running || []).map((id) => {
                    const job = this.#store.get(id);
                    return el(
                      "button",
                      { class: "link", type: "button", dataset: { id }, title: id },
                      el("code", { class: "id", text: shortId(id) }),
                      job ? ` ${job.type}` : "",
                    );
                  })
                : el("span", { class: "muted", text: "idle" }),
            ),
            el("td", { class: "time", text: relTime(w.since, now), title: absTime(w.since) }),
          );
        }),
    );
  }
}
