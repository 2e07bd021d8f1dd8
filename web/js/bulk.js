// The bar over the jobs table for the selected rows: how many, and the actions the role may use
// on them (a confirm click for the destructive ones).
import { ConfirmGate, allowedActions, applies, runBulk } from "./actions.js";
import { $, el, setText } from "./dom.js";

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
    for (const button of box.querySelectorAll("[data-action]")) {
      if (!this.#conn.may(`jobs.${button.dataset.action}`)) button.remove();
    }
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
