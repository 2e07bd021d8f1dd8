// The view in the URL: filters, sort, page, view and the open job live in the hash, so a
// reload, back/forward and a link sent to a colleague (opened after sign-in) show the same.
//
// #view=jobs&status=failed&type=email&q=01J&sort=-created&page=2&job=<id>; defaults are left
// out, and the old form #job=<id> still opens that job.

const DEFAULT_SORT = "-created";

/** The state a hash names, defaults filled in. */
export function parseHash(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const sort = p.get("sort") || DEFAULT_SORT;
  const desc = sort.startsWith("-");
  return {
    view: p.get("view") || "jobs",
    job: p.get("job") || null,
    table: {
      type: p.get("type") || "",
      status: p.get("status") || "",
      q: p.get("q") || "",
      sort: desc ? sort.slice(1) : sort,
      dir: desc ? -1 : 1,
      page: Math.max(0, (Number.parseInt(p.get("page") || "1", 10) || 1) - 1),
    },
  };
}

/** The hash for a state, without its defaults ("" for the plain jobs view). */
export function formatHash({ view, job, table }) {
  const p = new URLSearchParams();
  if (view && view !== "jobs") p.set("view", view);
  if (table.status) p.set("status", table.status);
  if (table.type) p.set("type", table.type);
  if (table.q) p.set("q", table.q);
  const sort = `${table.dir < 0 ? "-" : ""}${table.sort}`;
  if (sort !== DEFAULT_SORT) p.set("sort", sort);
  if (table.page > 0) p.set("page", String(table.page + 1));
  if (job) p.set("job", job);
  const text = p.toString();
  return text ? `#${text}` : "";
}

/**
 * Keeps the URL and the page in step: `record()` after a person changes the view (a new history
 * entry, or the same one while typing a search), `apply` is called for a link, back and forward.
 */
export class Router {
  #read;
  #apply;
  #pending = null; // null, or whether every change since the last write may replace the entry

  constructor({ read, apply }) {
    this.#read = read;
    this.#apply = apply;
    window.addEventListener("popstate", () => this.#apply(parseHash(location.hash)));
  }

  /** Show what the URL names now (at start). */
  start() {
    this.#apply(parseHash(location.hash));
  }

  /** Changes made in one go (a tab and its filter) become one history entry. */
  record({ replace = false } = {}) {
    if (this.#pending === null) {
      this.#pending = replace;
      queueMicrotask(() => this.#write());
    } else {
      this.#pending &&= replace;
    }
  }

  #write() {
    const replace = this.#pending;
    this.#pending = null;
    const hash = formatHash(this.#read());
    if (hash === location.hash) return;
    const url = hash || location.pathname + location.search;
    if (replace) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
  }
}
