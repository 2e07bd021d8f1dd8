// The schedules view: every repeating job the user may read (`schedules.list`), by key, with
// its repeat rule and next run. Re-read when the view opens and soon after a repeating job
// changes (a run finished and the next was scheduled, or a save replaced a schedule).
import { $, el, setText } from "./dom.js";
import { absTime, relTime, shortId } from "./format.js";

/** A repeat rule in words: "every 60 s", "cron 0 * * * * (UTC)", "…, 3 of 10". */
export function describeRepeat(repeat) {
  if (!repeat) return "—";
  const rule = repeat.cron ? `cron ${repeat.cron}${repeat.tz ? ` (${repeat.tz})` : ""}` : `every ${repeat.every} s${repeat.fixed ? " (fixed steps)" : ""}`;
  const times = repeat.times ? `, run ${repeat.run || 1} of ${repeat.times}` : "";
  return rule + times;
}

export class SchedulesView {
  #root;
  #conn;
  #onOpen;
  #visible = false;
  #soon = null;

  constructor(root, { conn, store, onOpen }) {
    this.#root = root;
    this.#conn = conn;
    this.#onOpen = onOpen;
    store.addEventListener("change", () => {
      if (this.#visible && !this.#soon) this.#soon = setTimeout(() => this.refresh(), 300);
    });
    $("tbody", root).addEventListener("click", (e) => {
      const link = e.target.closest("[data-id]");
      if (link) this.#onOpen(link.dataset.id);
    });
  }

  setVisible(visible) {
    this.#visible = visible;
    if (visible) this.refresh();
  }

  async refresh() {
    clearTimeout(this.#soon);
    this.#soon = null;
    if (!this.#visible || !this.#conn.may("schedules.list")) return;
    let schedules;
    try {
      schedules = await this.#conn.call("schedules.list", {});
    } catch (err) {
      setText($("#schedules-note", this.#root), `Could not list schedules: ${err.message}`);
      return;
    }
    this.#draw(schedules);
  }

  #draw(schedules) {
    const now = Date.now() / 1000;
    setText($("#schedules-note", this.#root), `${schedules.length} repeating`);
    $("#schedules-empty", this.#root).hidden = schedules.length > 0;
    $("tbody", this.#root).replaceChildren(
      ...schedules.map((s) =>
        el(
          "tr",
          { dataset: { key: s.key || "" } },
          el("td", { text: s.key || "—" }),
          el("td", {}, el("span", { class: "tag", text: s.type })),
          el("td", { class: "repeat", text: describeRepeat(s.repeat) }),
          el("td", { class: "time", text: relTime(s.next, now), title: absTime(s.next) }),
          el(
            "td",
            {},
            el("button", { class: "link", type: "button", dataset: { id: s.id }, title: s.id },
              el("code", { class: "id", text: shortId(s.id) })),
          ),
        ),
      ),
    );
  }
}
