// The jobs table: one page of jobs, filtered, searched, sorted and paged by the server (a live
// window: docs/protocol.md). The table says which page it wants (`query`, and a "query" event
// when it changes); app.js keeps the window subscribed and the store holds its rows.
//
// Live changes only mark the view dirty; one requestAnimationFrame redraws.
import { BulkBar } from "./bulk.js";
import { $, el, setText } from "./dom.js";
import { retryText } from "./failure.js";
import { STATUSES, absTime, priorityLabel, relTime, shortId, workerOf } from "./format.js";

const PAGE_SIZE = 50;
const STATUS_ORDER = new Map(STATUSES.map((s, i) => [s, i]));

/** A column's sort key -> the job field the server sorts by. */
const SORT_KEYS = {
  id: "id",
  type: "type",
  status: "status",
  priority: "priority",
  progress: "progress.percent",
  attempts: "attempts",
  created: "created",
  updated: "updated",
  worker: "worker",
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
  #bulkBar;
  #typing = null;

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
    this.#requery();
    this.#changed();
  }

  /** The live window this table shows (see app.js). */
  get query() {
    const { type, status, q } = this.filter;
    const filter = {};
    if (type) filter.type = type;
    if (status) filter.status = status;
    if (/[\p{L}\p{N}]/u.test(q)) filter.$search = q.trim().slice(0, 200);
    const sort = [[SORT_KEYS[this.sort.key], this.sort.dir]];
    return { filter, sort, limit: PAGE_SIZE, skip: this.page * PAGE_SIZE };
  }

  #requery() {
    this.dispatchEvent(new Event("query"));
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
    this.#requery();
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
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => this.#draw());
  }

  // -- drawing -----------------------------------------------------------------------------

  #draw() {
    this.#frame = 0;
    if (this.#viewDirty) this.#compute();
    this.#drawRows();
    this.#drawPager();
    this.#bulkBar.draw();
    this.#drawSortMarks();
  }

  /** The page is the store's window, already filtered and sorted by the server. */
  #compute() {
    this.#viewDirty = false;
    this.view = this.#store.rows;
    for (const id of this.selected) if (!this.#store.jobs.has(id)) this.selected.delete(id);
    const pages = this.#pages();
    // before the first counts a linked page number is kept, not clamped to the empty view
    if (this.page >= pages && this.#store.countsLoaded && !this.filter.q.trim()) {
      this.page = pages - 1;
      this.#requery();
    }
  }

  /** How many jobs match: from the live counts, or unknown (null) for a search. */
  #total() {
    if (this.query.filter.$search) return null;
    return this.#store.countOf(this.filter.type, this.filter.status);
  }

  #pages() {
    const total = this.#total();
    if (total === null) return this.page + 1 + (this.#store.more ? 1 : 0);
    return Math.max(1, Math.ceil(total / PAGE_SIZE));
  }

  #drawRows() {
    const focused = this.#tbody.contains(document.activeElement) ? document.activeElement.closest("tr") : null;
    const focusedId = focused ? focused.dataset.id : null;
    const docs = this.view;
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
    const total = this.#total();
    const pages = this.#pages();
    const first = this.view.length ? this.page * PAGE_SIZE + 1 : 0;
    const last = this.page * PAGE_SIZE + this.view.length;
    const all = this.#store.size;
    let shown = `${all.toLocaleString()} jobs`;
    if (total === null) shown = this.#store.more ? "more match" : `${last.toLocaleString()} match`;
    else if (total !== all) shown = `${total.toLocaleString()} of ${all.toLocaleString()} jobs`;
    setText($("#pager-info", this.#root), `${first.toLocaleString()}–${last.toLocaleString()} · ${shown}`);
    setText($("#pager-page", this.#root), total === null ? `Page ${this.page + 1}` : `Page ${this.page + 1} / ${pages}`);
    $("#pager-first", this.#root).disabled = this.page === 0;
    $("#pager-prev", this.#root).disabled = this.page === 0;
    $("#pager-next", this.#root).disabled = this.page >= pages - 1;
    $("#pager-last", this.#root).disabled = this.page >= pages - 1 || total === null;
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
      clearTimeout(this.#typing);
      this.#typing = setTimeout(() => this.#requery(), 200); // one window per pause in typing
      this.#changed(true);
    });
    $("#filter-type", root).addEventListener("change", (e) => this.setFilter({ type: e.target.value }));
    $("#filter-status", root).addEventListener("change", (e) => this.setFilter({ status: e.target.value }));
    for (const th of root.querySelectorAll("th[data-sort]")) {
      th.addEventListener("click", () => {
        const key = th.dataset.sort;
        this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : key === "created" || key === "updated" ? -1 : 1 };
        this.page = 0;
        this.invalidate();
        this.#requery();
        this.#changed();
      });
    }
    const go = (page) => {
      this.page = page;
      this.invalidate();
      this.#requery();
      this.#changed();
    };
    const pages = () => this.#pages();
    $("#pager-first", root).addEventListener("click", () => go(0));
    $("#pager-prev", root).addEventListener("click", () => go(Math.max(0, this.page - 1)));
    $("#pager-next", root).addEventListener("click", () => go(Math.min(pages() - 1, this.page + 1)));
    $("#pager-last", root).addEventListener("click", () => go(pages() - 1));
    $("#select-page", root).addEventListener("change", (e) => {
      for (const doc of this.view) {
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
