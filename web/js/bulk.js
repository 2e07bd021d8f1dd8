// The bar over the jobs table for the selected rows: how many, and the actions the role may use
// on them (a confirm click for the destructive ones, a select of levels for the priority).
import { ConfirmGate, allowedActions, applies, runBulk } from "./actions.js";
import { $, el, setText } from "./dom.js";
import { SET_PRIORITY, levelOptions } from "./priority.js";

export class BulkBar {
  #root;
  #table;
  #store;
  #conn;
  #confirm = new ConfirmGate();

  constructor(root, { table, store, conn }) {
    this.#root = root;
    this.#table = table;
    this.#store = store;
    this.#conn = conn;
  }

  draw() {
    const bar = $("#bulk", this.#root);
    const n = this.#table.selected.size;
    bar.hidden = n === 0;
    if (!n) return;
    setText($("#bulk-count", this.#root), `${n.toLocaleString()} selected`);
    const statuses = new Set();
    for (const id of this.#table.selected) {
      const doc = this.#store.get(id);
      if (doc) statuses.add(doc.status);
    }
    const box = $("#bulk-actions", this.#root);
    for (const action of allowedActions(this.#conn)) {
      let button = box.querySelector(`[data-action="${action.name}"]`);
      if (!button) {
        button = el("button", {
          class: `btn ${action.kind ? `btn-${action.kind}` : ""}`,
          dataset: { action: action.name },
          text: action.label,
          onclick: () => this.#run(action, button),
        });
        box.append(button);
      }
      button.disabled = ![...statuses].some((s) => applies(action, s));
    }
    this.#drawPriority(box, statuses);
    for (const button of box.querySelectorAll("[data-action]")) {
      if (!this.#conn.may(`jobs.${button.dataset.action}`)) button.remove();
    }
  }

  #drawPriority(box, statuses) {
    if (!this.#conn.may(SET_PRIORITY.method)) return; // the loop after this removes it
    let select = box.querySelector(`[data-action="${SET_PRIORITY.name}"]`);
    if (!select) {
      select = el(
        "select",
        {
          class: "bulk-priority",
          "aria-label": "Set the priority of the selected jobs",
          dataset: { action: SET_PRIORITY.name },
          onchange: () => this.#setPriority(select),
        },
        el("option", { value: "", text: "Priority…" }),
        ...levelOptions(),
      );
      box.append(select);
    }
    select.disabled = ![...statuses].some((s) => applies(SET_PRIORITY, s));
  }

  async #setPriority(select) {
    if (!select.value) return;
    const priority = Number(select.value);
    select.value = ""; // it offers a change, not the selected jobs' current level
    const ids = [...this.#table.selected].filter((id) => applies(SET_PRIORITY, this.#store.get(id)?.status));
    select.disabled = true;
    const done = await runBulk(this.#conn, SET_PRIORITY, ids, { priority });
    for (const id of done) this.#table.selected.delete(id);
    this.#table.redraw();
  }

  async #run(action, button) {
    if (!this.#confirm.pass(action, button)) return;
    const ids = [...this.#table.selected].filter((id) => {
      const doc = this.#store.get(id);
      return doc && applies(action, doc.status);
    });
    button.disabled = true;
    const done = await runBulk(this.#conn, action, ids);
    for (const id of done) this.#table.selected.delete(id);
    this.#table.redraw();
  }
}
