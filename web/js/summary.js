// The header's live counts per status and per type; clicking one filters the table. A type whose
// queue is paused (types.pause) is marked, and shown even when it is not among the busiest.
import { $, el, setText } from "./dom.js";
import { STATUSES } from "./format.js";

const MAX_TYPE_CHIPS = 8;

export class Summary {
  #store;
  #table;
  #rules;
  #frame = 0;
  #typeKey = "";

  constructor({ store, table, rules }) {
    this.#store = store;
    this.#table = table;
    this.#rules = rules;
    this.#buildStatusChips();
    store.addEventListener("change", () => this.redraw());
    rules.addEventListener("change", () => this.redraw());
    table.addEventListener("filter", () => this.redraw());
  }

  redraw() {
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.#draw());
  }

  #buildStatusChips() {
    const box = $("#status-counts");
    box.append(this.#chip("total", "all", () => this.#table.setFilter({ status: "", type: "" })));
    for (const status of STATUSES) {
      box.append(
        this.#chip(status, status, () =>
          this.#table.setFilter({ status: this.#table.filter.status === status ? "" : status }),
        ),
      );
    }
  }

  #chip(key, label, onclick) {
    return el(
      "button",
      { class: `chip s-${key}`, dataset: { key }, type: "button", onclick },
      el("span", { class: "chip-label", text: label }),
      el("span", { class: "chip-count", text: "0" }),
    );
  }

  #draw() {
    this.#frame = 0;
    const store = this.#store;
    const filter = this.#table.filter;
    for (const chip of $("#status-counts").children) {
      const key = chip.dataset.key;
      const count = key === "total" ? store.size : store.byStatus.get(key) || 0;
      setText(chip.lastChild, count.toLocaleString() + (store.countsPartial ? "+" : ""));
      chip.classList.toggle("zero", count === 0);
      chip.classList.toggle("on", key === "total" ? !filter.status && !filter.type : filter.status === key);
    }
    this.#drawTypes();
  }

  #drawTypes() {
    const types = [...this.#store.byType.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const rules = this.#rules;
    const shown = types.slice(0, MAX_TYPE_CHIPS);
    // A paused queue is news wherever its type ranks, even with no job of it in view.
    const extra = [...rules.rules.values()]
      .filter((rule) => rule.paused && !shown.some(([type]) => type === rule.type))
      .map((rule) => [rule.type, this.#store.byType.get(rule.type) || 0]);
    const hidden = types.length - shown.length - extra.filter(([, count]) => count > 0).length;
    const box = $("#type-counts");
    box.replaceChildren(
      ...[...shown, ...extra].map(([type, count]) => {
        const paused = rules.isPaused(type);
        const chip = el(
          "button",
          {
            class: `chip chip-type${this.#table.filter.type === type ? " on" : ""}${paused ? " paused" : ""}`,
            type: "button",
            dataset: { type, paused: String(paused) },
            title: paused ? `${type}: queue paused, no new job starts · filter by this type` : `filter by type ${type}`,
            onclick: () => this.#table.setFilter({ type: this.#table.filter.type === type ? "" : type }),
          },
          el("span", { class: "chip-label", text: type }),
          paused ? el("span", { class: "chip-flag", text: "paused" }) : null,
          el("span", { class: "chip-count", text: count.toLocaleString() }),
        );
        return chip;
      }),
    );
    if (hidden > 0) {
      box.append(el("span", { class: "more", text: `+${hidden} more` }));
    }
    // The type filter's options follow the set of known types (kept while one is selected).
    const names = types.map(([t]) => t).sort();
    const current = this.#table.filter.type;
    if (current && !names.includes(current)) names.push(current);
    const key = names.join("\u0000");
    const select = $("#filter-type");
    if (key !== this.#typeKey) {
      this.#typeKey = key;
      select.replaceChildren(
        el("option", { value: "", text: "All types" }),
        ...names.map((t) => el("option", { value: t, text: t })),
      );
      select.value = current;
    }
    const list = $("#known-types");
    if (list.childElementCount !== names.length) {
      list.replaceChildren(...names.map((t) => el("option", { value: t })));
    }
  }
}
