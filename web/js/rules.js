// Flow-control rules per job type (queue pause, rate limit, global concurrency), kept live:
// `types.watch` when a session starts gives the list, and the server then pushes the whole list
// again (a `types` frame) whenever anyone, through any server, changes a rule. A setter's reply
// is applied at once, before its push arrives. Emits "change" whenever the known rules may differ.

/** A type with no rule left (no limit, default or retention) is dropped from `types.list`;
 * keep the same view locally, or a setter's reply would hide a type that still has defaults. */
export function listed(rule) {
  return Boolean(
    rule &&
      (rule.paused || rule.rate_limit != null || rule.concurrency != null ||
        [...GROUP_LIMITS, ...DEFAULTS, "retain", "keep"].some((k) => rule[k] != null)),
  );
}

/** Limits per group within a type (a job's `group`): kept when the type's limits are edited. */
export const GROUP_LIMITS = ["group_concurrency", "group_rate_limit", "group_rate_per"];

/** What a type gives its jobs created without their own. */
const DEFAULTS = ["time_limit", "retry"];

/** "100 / 60 s", or "" without a rate limit. */
export function rateText(rule) {
  if (!rule || rule.rate_limit == null || rule.rate_per == null) return "";
  return `${rule.rate_limit.toLocaleString()} / ${seconds(rule.rate_per)} s`;
}

/** The defaults a type gives its jobs created without their own (`types.set_time_limit`,
 * `types.set_retry`), as a short text; "" for none. */
export function defaultsText(rule) {
  const parts = [];
  if (rule && rule.time_limit != null) parts.push(`time limit ${seconds(rule.time_limit)} s`);
  if (rule && rule.retry) parts.push(`${(rule.retry.retries ?? 0).toLocaleString()} retries`);
  return parts.join(" · ");
}

/** How a type keeps its finished jobs (`types.set_keep`, `types.set_retain`), as a short text;
 * "" when the server's retention applies. */
export function keptText(rule) {
  const parts = Object.entries(rule?.keep ?? {}).map(([status, n]) => `newest ${n.toLocaleString()} ${status}`);
  if (rule && rule.retain != null) parts.push(`for ${seconds(rule.retain)} s`);
  return parts.join(" · ");
}

function seconds(value) {
  return Number.isInteger(value) ? value.toLocaleString() : String(Number(value.toFixed(3)));
}

export class TypeRules extends EventTarget {
  /** type -> {type, paused, rate_limit, rate_per, concurrency, time_limit?, retry?, ...} */
  rules = new Map();
  /** When the last list arrived (ms since epoch), 0 before the first one. */
  updated = 0;
  /** The last refresh's error, cleared by the next success. */
  error = null;

  #conn;
  #seq = 0; // numbers the answers, so an old list cannot overwrite a newer one
  #applied = 0;

  constructor(conn) {
    super();
    this.#conn = conn;
    conn.addEventListener("session", () => this.refresh());
    conn.addEventListener("types", (e) => this.#apply(++this.#seq, e.detail));
  }

  get(type) {
    return this.rules.get(type) || null;
  }

  isPaused(type) {
    return Boolean(this.rules.get(type)?.paused);
  }

  /** Forget everything (signed out). */
  clear() {
    this.#applied = ++this.#seq;
    this.rules = new Map();
    this.updated = 0;
    this.error = null;
    this.#emit();
  }

  /** Fetch the list and watch it (again after every reconnect: a session starts afresh). */
  async refresh() {
    const conn = this.#conn;
    if (!conn.may("types.watch")) {
      if (this.rules.size) this.clear();
      return;
    }
    const n = ++this.#seq;
    let list;
    try {
      list = await conn.call("types.watch", {});
    } catch (err) {
      if (n > this.#applied) {
        this.error = err;
        this.#emit();
      }
      return;
    }
    this.#apply(n, list);
  }

  #apply(n, list) {
    if (n < this.#applied) return; // a later list, or our own change, is already shown
    this.#applied = n;
    this.rules = new Map(list.map((rule) => [rule.type, rule]));
    this.updated = Date.now();
    this.error = null;
    this.#emit();
  }

  // The setters throw the server's CallError; each reply is the type's rules after the change.

  pause(type) {
    return this.#change("types.pause", { type });
  }

  resume(type) {
    return this.#change("types.resume", { type });
  }

  // `rev`, where a setter takes it: the revision of the rules the change was made from (the
  // server refuses it, `conflict`, if they changed since); null: whatever they are now.

  /** Omitted (null) limits are removed; rate_limit and rate_per go together. */
  setLimits(type, { rate_limit = null, rate_per = null, concurrency = null } = {}, rev = null) {
    const params = rev == null ? { type } : { type, rev };
    const kept = this.rules.get(type) || {};
    for (const k of GROUP_LIMITS) if (kept[k] != null) params[k] = kept[k];
    if (rate_limit != null || rate_per != null) Object.assign(params, { rate_limit, rate_per });
    if (concurrency != null) params.concurrency = concurrency;
    return this.#change("types.set_limits", params);
  }

  /** Seconds an attempt of the type's new jobs may run; null removes the default. */
  setTimeLimit(type, timeLimit, rev = null) {
    return this.#setOne("types.set_time_limit", type, "time_limit", timeLimit, rev);
  }

  /** `{retries, wait, backoff, max_wait, until}` for the type's new jobs; null removes it
   * (they get the server's `default_retry` then). */
  setRetry(type, retry, rev = null) {
    return this.#setOne("types.set_retry", type, "retry", retry, rev);
  }

  /** Seconds the type's finished jobs are kept; null: the server's `retain_seconds`. */
  setRetain(type, seconds, rev = null) {
    return this.#setOne("types.set_retain", type, "retain", seconds, rev);
  }

  /** `{completed, failed, cancelled}`: how many of the newest of each are kept; null: none. */
  setKeep(type, keep, rev = null) {
    return this.#setOne("types.set_keep", type, "keep", keep, rev);
  }

  /** A setter of one rule: the param omitted when null, which removes the rule. */
  #setOne(method, type, name, value, rev) {
    const params = rev == null ? { type } : { type, rev };
    if (value != null) params[name] = value;
    return this.#change(method, params);
  }

  async #change(method, params) {
    const rule = await this.#conn.call(method, params);
    this.#applied = ++this.#seq;
    if (listed(rule)) this.rules.set(rule.type, rule);
    else this.rules.delete(rule.type);
    this.#emit();
    return rule;
  }

  #emit() {
    this.dispatchEvent(new CustomEvent("change"));
  }
}
