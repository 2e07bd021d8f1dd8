// The jobs this session can see: id -> document, with counts kept as documents come and go.
//
// Fed by one subscription (see connection.js). Emits "change" with {ids: Set, full: bool}
// ("full" after a snapshot replaced everything) and "completed" with {doc} when a job turns
// completed live, which the throughput chart counts.

import { STATUS } from "./names.js";

export class JobStore extends EventTarget {
  jobs = new Map();
  /** status -> count, type -> count, type -> (status -> count) */
  byStatus = new Map();
  byType = new Map();
  byTypeStatus = new Map();
  /** True once the first snapshot arrived. */
  loaded = false;

  apply(event) {
    switch (event.kind) {
      case "snapshot":
        this.#replace(event.docs);
        return;
      case "added":
      case "changed":
        this.#upsert(event.doc);
        return;
      case "removed":
        this.#remove(event.id);
        return;
    }
  }

  get(id) {
    return this.jobs.get(id);
  }

  get size() {
    return this.jobs.size;
  }

  #replace(docs) {
    this.jobs = docs;
    this.byStatus = new Map();
    this.byType = new Map();
    this.byTypeStatus = new Map();
    for (const doc of docs.values()) this.#count(doc, 1);
    this.loaded = true;
    this.#emit(new Set(docs.keys()), true);
  }

  #upsert(doc) {
    const old = this.jobs.get(doc.id);
    if (old) {
      // A reordered or repeated frame must not roll a job back.
      if (typeof old.version === "number" && doc.version < old.version) return;
      this.#count(old, -1);
    }
    this.jobs.set(doc.id, doc);
    this.#count(doc, 1);
    if (doc.status === STATUS.COMPLETED && (!old || old.status !== STATUS.COMPLETED)) {
      this.dispatchEvent(new CustomEvent("completed", { detail: { doc } }));
    }
    this.#emit(new Set([doc.id]), false);
  }

  #remove(id) {
    const old = this.jobs.get(id);
    if (!old) return;
    this.#count(old, -1);
    this.jobs.delete(id);
    this.#emit(new Set([id]), false);
  }

  #count(doc, delta) {
    bump(this.byStatus, doc.status, delta);
    bump(this.byType, doc.type, delta);
    let statuses = this.byTypeStatus.get(doc.type);
    if (!statuses) this.byTypeStatus.set(doc.type, (statuses = new Map()));
    bump(statuses, doc.status, delta);
    if (!statuses.size) this.byTypeStatus.delete(doc.type);
  }

  #emit(ids, full) {
    this.dispatchEvent(new CustomEvent("change", { detail: { ids, full } }));
  }
}

function bump(map, key, delta) {
  const next = (map.get(key) || 0) + delta;
  if (next > 0) map.set(key, next);
  else map.delete(key);
}
