// What the dashboard holds of the server's jobs: one page of them (a live window), the job
// open in the detail panel, and the live counts; never the whole collection
// (docs/protocol.md, "Live windows").
//
// Fed by three subscriptions (see app.js): `apply` for the window, `applyFollowed` for the open
// job, `applyCounts` for the count feed. Emits "change" with {ids: Set, full: bool} ("full"
// after a snapshot replaced the window) and "completed" once per job the counts say completed
// since the last push, which the throughput chart counts.

import { STATUS } from "./names.js";

export class JobStore extends EventTarget {
  /** id -> document: the window's jobs and the followed job */
  jobs = new Map();
  /** the window's ids in the server's order, and whether more jobs match beyond it */
  order = [];
  more = false;
  /** status -> count, type -> count, type -> (status -> count): from the count feed */
  byStatus = new Map();
  byType = new Map();
  byTypeStatus = new Map();
  /** True once the first window arrived. */
  loaded = false;
  countsLoaded = false;
  /** True when the server counted only some jobs (a per-job read rule, past its scan). */
  countsPartial = false;

  #window = new Map();
  #followed = new Map();
  #total = 0;

  apply(event) {
    switch (event.kind) {
      case "snapshot":
        this.#window = event.docs;
        this.order = event.ids || [...event.docs.keys()];
        this.more = Boolean(event.more);
        this.loaded = true;
        this.#merge(new Set(event.docs.keys()), true);
        return;
      case "order":
        this.order = event.ids;
        this.more = Boolean(event.more);
        this.#emit(new Set(), false);
        return;
      default:
        this.#applyTo(this.#window, event);
    }
  }

  /** The job open in the detail panel (a subscription on its id). */
  applyFollowed(event) {
    if (event.kind === "snapshot") {
      this.#followed = event.docs;
      this.#merge(new Set(event.docs.keys()), false);
    } else if (event.kind !== "order") {
      this.#applyTo(this.#followed, event);
    }
  }

  applyCounts({ counts }) {
    const done = (counts.status && counts.status[STATUS.COMPLETED]) || 0;
    const before = this.countsLoaded ? this.byStatus.get(STATUS.COMPLETED) || 0 : done;
    this.byStatus = new Map(Object.entries(counts.status || {}));
    this.byType = new Map(Object.entries(counts.type || {}));
    this.byTypeStatus = new Map(Object.entries(counts.by_type || {}).map(([t, s]) => [t, new Map(Object.entries(s))]));
    this.#total = [...this.byStatus.values()].reduce((a, b) => a + b, 0);
    this.countsLoaded = true;
    this.countsPartial = Boolean(counts.partial);
    for (let i = 0; i < Math.min(done - before, 1000); i++) {
      this.dispatchEvent(new CustomEvent("completed", { detail: {} }));
    }
    this.#emit(new Set(), false);
  }

  /** The window's documents in order. */
  get rows() {
    return this.order.map((id) => this.#window.get(id)).filter(Boolean);
  }

  get(id) {
    return this.jobs.get(id);
  }

  /** Every job this identity can see, as counted by the server. */
  get size() {
    return this.#total;
  }

  /** How many jobs have this type and status ("" for any), from the counts. */
  countOf(type, status) {
    if (type && status) return (this.byTypeStatus.get(type) && this.byTypeStatus.get(type).get(status)) || 0;
    if (type) return this.byType.get(type) || 0;
    if (status) return this.byStatus.get(status) || 0;
    return this.#total;
  }

  clear() {
    this.#window = new Map();
    this.#followed = new Map();
    this.order = [];
    this.more = false;
    this.byStatus = new Map();
    this.byType = new Map();
    this.byTypeStatus = new Map();
    this.#total = 0;
    this.loaded = false;
    this.countsLoaded = false;
    this.countsPartial = false;
    this.#merge(new Set(), true);
  }

  #applyTo(map, event) {
    switch (event.kind) {
      case "added":
      case "changed": {
        const old = map.get(event.doc.id);
        // A reordered or repeated frame must not roll a job back.
        if (old && typeof old.version === "number" && event.doc.version < old.version) return;
        map.set(event.doc.id, event.doc);
        this.#merge(new Set([event.doc.id]), false);
        return;
      }
      case "removed":
        if (map.delete(event.id)) this.#merge(new Set([event.id]), false);
        return;
    }
  }

  #merge(ids, full) {
    this.jobs = new Map([...this.#window, ...this.#followed]);
    this.#emit(ids, full);
  }

  #emit(ids, full) {
    this.dispatchEvent(new CustomEvent("change", { detail: { ids, full } }));
  }
}
