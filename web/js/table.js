// The jobs table: filter, search, sort and paginate the store, drawing only the visible page.
//
// Live changes only mark the view dirty; one requestAnimationFrame recomputes and redraws,
// throttled for large stores, so thousands of changes per second cost a few frames.
import { BulkBar } from "./bulk.js";
import { $, el, setText } from "./dom.js";
import { retryText } from "./failure.js";
import { STATUSES, absTime, priorityLabel, relTime, shortId, workerOf } from "./format.js";

const PAGE_SIZE = 50;
const STATUS_ORDER = new Map(STATUSES.map((s, i) => [s, i]));

const SORT_KEYS = {
  id: (d) => d.id,
  type: (d) => d.type,
  status: (d) => STATUS_ORDER.get(d.status) ?? 99,
  priority: (d) => d.priority,
  progress: (d) => (d.progress ? d.progress.percent : 0),
  attempts: (d) => d.attempts,
  created: (d) => d.created,
  updated: (d) => d.updated,
  worker: (d) => workerOf(d),
};

export class JobsTable extends EventTarget {
  filter = { type: "", status: "", q: "" };
  sort = { key: "created", dir: -1 };
  page = 0;
  selected = new Set();
  activeId = null;
  view = [];

  #store;
  #conn;
  #onOpen;
  #root;
  #tbody;
  #rows = [];
  #viewDirty = true;
  #frame = 0;
  #lastCompute = 0;
  #throttleTimer = null;
  #bulkBar;

  constructor(root, { store, conn, onOpen }) {
    super();
    this.#root = root;
    this.#store = store;
    this.#conn = conn;
    this.#onOpen = onOpen;
    this.#tbody = $("tbody", root);
    this.#bulkBar = new BulkBar(root, { table: this, store, conn });
    this.#bind();
    store.addEventListener("change", () => this.invalidate());
  }

  setFilter(patch) {
    Object.assign(this.filter, patch);
    this.#syncControls();
    this.page = 0;
    this.invalidate();
    this.dispatchEvent(new Event("filter"));
    this.#changed();
  }

  /** What the URL keeps: filters, sort and page (see route.js). */
  get state() {
    return { ...this.filter, sort: this.sort.key, dir: this.sort.dir, page: this.page };
  }

  /** Show a state read from the URL (a link, back or forward) without recording it again. */
  setState({ type = "", status = "", q = "", sort = "created", dir = -1, page = 0 }) {
    this.filter = { type, status, q };
    this.sort = { key: sort in SORT_KEYS ? sort : "created", dir: dir > 0 ? 1 : -1 };
    this.page = Math.max(0, page | 0);
    this.#syncControls();
    this.invalidate();
    this.dispatchEvent(new Event("filter"));
  }

  #syncControls() {
    $("#filter-type", this.#root).value = this.filter.type;
    $("#filter-status", this.#root).value = this.filter.status;
    const search = $("#search", this.#root);
    if (search.value !== this.filter.q) search.value = this.filter.q;
  }

  /** A person changed the view: "statechange" tells the router (typing says `typing`). */
  #changed(typing = false) {
    this.dispatchEvent(new CustomEvent("statechange", { detail: { typing } }));
  }

  setActive(id) {
    this.activeId = id;
    this.redraw();
  }

  /** The set of visible jobs may have changed. */
  invalidate() {
    this.#viewDirty = true;
    this.redraw();
  }

  /** Only the drawn rows need refreshing (e.g. relative times). */
  redraw() {
    if (this.#frame || this.#throttleTimer) return;
    this.#frame = requestAnimationFrame(() => this.#draw());
  }

  // -- drawing -----------------------------------------------------------------------------

  #draw() {
    this.#frame = 0;
    if (this.#viewDirty) {
      // Recomputing 10k jobs is a few ms; do it at most ~4 times a second when large.
      const wait = this.#store.size > 2000 ? 250 - (performance.now() - this.#lastCompute) : 0;
      if (wait > 0) {
        this.#throttleTimer = setTimeout(() => {
          this.#throttleTimer = null;
          this.redraw();
        }, wait);
        return;
      }
      this.#compute();
    }
    this.#drawRows();
    this.#drawPager();
    this.#bulkBar.draw();
    this.#drawSortMarks();
  }

  #compute() {
    this.#viewDirty = false;
    this.#lastCompute = performance.now();
    const { type, status } = this.filter;
    const q = this.filter.q.trim().toLowerCase();
    const out = [];
    for (const doc of this.#store.jobs.values()) {
      if (type && doc.type !== type) continue;
      if (status && doc.status !== status) continue;
      if (q && !doc.id.toLowerCase().includes(q)) continue;
      out.push(doc);
    }
    const key = SORT_KEYS[this.sort.key];
    const dir = this.sort.dir;
    out.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      if (x < y) return -dir;
      if (x > y) return dir;
      return b.created - a.created || (a.id < b.id ? -1 : 1);
    });
    this.view = out;
    for (const id of this.selected) if (!this.#store.jobs.has(id)) this.selected.delete(id);
    const pages = Math.max(1, Math.ceil(out.length / PAGE_SIZE));
    // before the first snapshot a linked page number is kept, not clamped to the empty view
    if (this.page >= pages && this.#store.loaded) this.page = pages - 1;
  }

  #drawRows() {
    const focused = this.#tbody.contains(document.activeElement) ? document.activeElement.closest("tr") : null;
    const focusedId = focused ? focused.dataset.id : null;
    const start = this.page * PAGE_SIZE;
    const docs = this.view.slice(start, start + PAGE_SIZE);
    while (this.#rows.length < docs.length) this.#rows.push(this.#makeRow());
    const now = Date.now() / 1000;
    docs.forEach((doc, i) => this.#fillRow(this.#rows[i], doc, now));
    for (let i = 0; i < this.#rows.length; i++) {
      const row = this.#rows[i];
      const attached = row.tr.parentNode === this.#tbody;
      if (i < docs.length && !attached) this.#tbody.append(row.tr);
      if (i >= docs.length && attached) row.tr.remove();
    }
    if (focusedId) this.#keepFocus(focused, focusedId);
    const empty = $("#jobs-empty", this.#root);
    empty.hidden = docs.length > 0;
    setText(empty, this.#store.loaded ? "No jobs match." : "Loading jobs…");
    const pageBox = $("#select-page", this.#root);
    const chosen = docs.filter((d) => this.selected.has(d.id)).length;
    pageBox.checked = docs.length > 0 && chosen === docs.length;
    pageBox.indeterminate = chosen > 0 && chosen < docs.length;
  }

  /** Rows are reused by position: when the focused job moved, focus the row that shows it now. */
  #keepFocus(focused, id) {
    if (focused.dataset.id === id && focused.parentNode) return;
    const now = this.#rows.find((r) => r.tr.dataset.id === id && r.tr.parentNode === this.#tbody);
    if (!now) return;
    const cell = document.activeElement.closest("td");
    const index = cell ? [...focused.children].indexOf(cell) : -1;
    const target = document.activeElement.matches("input") && index >= 0 ? now.tr.children[index].querySelector("input") : now.tr;
    (target || now.tr).focus({ preventScroll: true });
  }

  #makeRow() {
    const cells = {
      check: el("input", { type: "checkbox", "aria-label": "select job" }),
      id: el("code", { class: "id" }),
      type: el("td", { class: "type" }),
      status: el("span", { class: "badge" }),
      priority: el("td", { class: "priority num" }),
      fill: el("div", { class: "fill" }),
      percent: el("span", { class: "percent" }),
      attempts: el("td", { class: "attempts num" }),
      created: el("td", { class: "time" }),
      updated: el("td", { class: "time col-updated" }),
      worker: el("td", { class: "worker" }),
    };
    const tr = el(
      "tr",
      { tabindex: 0 },
      el("td", { class: "sel" }, cells.check),
      el("td", {}, cells.id),
      cells.type,
      el("td", { class: "status" }, cells.status),
      cells.priority,
      el("td", { class: "progress" }, el("div", { class: "meter" }, el("div", { class: "bar" }, cells.fill), cells.percent)),
      cells.attempts,
      cells.created,
      cells.updated,
      cells.worker,
    );
    return { tr, cells, doc: null };
  }

  #fillRow(row, doc, now) {
    const { tr, cells } = row;
    row.doc = doc;
    if (tr.dataset.id !== doc.id) {
      // A reused row now shows another job: jump to its progress instead of animating.
      tr.dataset.id = doc.id;
      tr.classList.add("moved");
      requestAnimationFrame(() => requestAnimationFrame(() => tr.classList.remove("moved")));
    }
    if (tr.dataset.status !== doc.status) tr.dataset.status = doc.status;
    tr.classList.toggle("active", doc.id === this.activeId);
    tr.classList.toggle("selected", this.selected.has(doc.id));
    cells.check.checked = this.selected.has(doc.id);
    setText(cells.id, shortId(doc.id));
    if (cells.check.dataset.for !== doc.id) {
      cells.check.dataset.for = doc.id;
      cells.check.setAttribute("aria-label", `Select job ${shortId(doc.id)}`);
      tr.setAttribute("aria-label", `Job ${shortId(doc.id)}, ${doc.type}`);
    }
    cells.id.title = doc.id;
    setText(cells.type, doc.type);
    cells.type.title = doc.type; // cut short on a phone
    setText(cells.status, doc.status);
    cells.status.title = retryText(doc); // "retry at 14:03:07 (attempt 2 of 5)" between attempts
    const statusClass = `badge s-${STATUS_ORDER.has(doc.status) ? doc.status : "unknown"}`;
    if (cells.status.className !== statusClass) cells.status.className = statusClass;
    setText(cells.priority, priorityLabel(doc.priority));
    const percent = doc.progress ? Math.max(0, Math.min(100, doc.progress.percent || 0)) : 0;
    cells.fill.style.width = `${percent}%`;
    setText(cells.percent, `${Math.round(percent)}%`);
    const retries = doc.retry ? doc.retry.retries : 0;
    setText(cells.attempts, `${doc.attempts}/${retries + 1}`);
    setText(cells.created, relTime(doc.created, now));
    cells.created.title = absTime(doc.created);
    setText(cells.updated, relTime(doc.updated, now));
    cells.updated.title = absTime(doc.updated);
    setText(cells.worker, workerOf(doc) || "—");
  }

  #drawPager() {
    const total = this.view.length;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const first = total ? this.page * PAGE_SIZE + 1 : 0;
    const last = Math.min(total, (this.page + 1) * PAGE_SIZE);
    const all = this.#store.size;
    const shown = total === all ? `${total.toLocaleString()} jobs` : `${total.toLocaleString()} of ${all.toLocaleString()} jobs`;
    setText($("#pager-info", this.#root), `${first.toLocaleString()}–${last.toLocaleString()} · ${shown}`);
    setText($("#pager-page", this.#root), `Page ${this.page + 1} / ${pages}`);
    $("#pager-first", this.#root).disabled = this.page === 0;
    $("#pager-prev", this.#root).disabled = this.page === 0;
    $("#pager-next", this.#root).disabled = this.page >= pages - 1;
    $("#pager-last", this.#root).disabled = this.page >= pages - 1;
  }

  #drawSortMarks() {
    for (const th of this.#root.querySelectorAll("th[data-sort]")) {
      const on = th.dataset.sort === this.sort.key;
      th.setAttribute("aria-sort", on ? (this.sort.dir < 0 ? "descending" : "ascending") : "none");
    }
  }

  // -- events ------------------------------------------------------------------------------

  #bind() {
    const root = this.#root;
    $("#search", root).addEventListener("input", (e) => {
      this.filter.q = e.target.value;
      this.page = 0;
      this.invalidate();
      this.#changed(true);
    });
    $("#filter-type", root).addEventListener("change", (e) => this.setFilter({ type: e.target.value }));
    $("#filter-status", root).addEventListener("change", (e) => this.setFilter({ status: e.target.value }));
    for (const th of root.querySelectorAll("th[data-sort]")) {
      th.addEventListener("click", () => {
        const key = th.dataset.sort;
        this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : key === "created" || key === "updated" ? -1 : 1 };
        this.invalidate();
        this.#changed();
      });
    }
    const go = (page) => {
      this.page = page;
      this.redraw();
      this.#changed();
    };
    const pages = () => Math.max(1, Math.ceil(this.view.length / PAGE_SIZE));
    $("#pager-first", root).addEventListener("click", () => go(0));
    $("#pager-prev", root).addEventListener("click", () => go(Math.max(0, this.page - 1)));
    $("#pager-next", root).addEventListener("click", () => go(Math.min(pages() - 1, this.page + 1)));
    $("#pager-last", root).addEventListener("click", () => go(pages() - 1));
    $("#select-page", root).addEventListener("change", (e) => {
      const start = this.page * PAGE_SIZE;
      for (const doc of this.view.slice(start, start + PAGE_SIZE)) {
        if (e.target.checked) this.selected.add(doc.id);
        else this.selected.delete(doc.id);
      }
      this.redraw();
    });
    $("#bulk-all", root).addEventListener("click", () => {
      for (const doc of this.view) this.selected.add(doc.id);
      this.redraw();
    });
    $("#bulk-clear", root).addEventListener("click", () => {
      this.selected.clear();
      this.redraw();
    });
    this.#tbody.addEventListener("click", (e) => {
      const tr = e.target.closest("tr");
      if (!tr) return;
      const id = tr.dataset.id;
      if (e.target.matches("input[type=checkbox]")) {
        if (e.target.checked) this.selected.add(id);
        else this.selected.delete(id);
        this.redraw();
        return;
      }
      if (e.target.closest("td.sel")) return;
      this.#onOpen(id);
    });
    this.#tbody.addEventListener("keydown", (e) => this.#onKey(e));
  }

  /** Keyboard on a row: Enter opens it, Space selects it, the arrows move between rows. */
  #onKey(e) {
    const tr = e.target.closest("tr");
    if (!tr || e.target !== tr) return;
    if (e.key === "Enter") this.#onOpen(tr.dataset.id);
    else if (e.key === " ") {
      e.preventDefault();
      const box = tr.querySelector("td.sel input");
      if (box && box.offsetParent) box.click();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
      if (next) {
        e.preventDefault();
        next.focus();
      }
    }
  }
}
