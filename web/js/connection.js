// The WebSocket session: auth, calls with replies, subscriptions, reconnect with backoff.
//
// Everything the dashboard does goes through here, and only through docs/protocol.md:
// `call(method, params)` sends {"msg": "call"} and resolves with the result frame;
// `subscribe(filter, onEvent)` keeps a live subscription across reconnects and reports
// {kind: "snapshot", docs: Map} (initial, after a reconnect, after a server reset),
// then {kind: "added" | "changed", doc} and {kind: "removed", id}.

export const ConnState = Object.freeze({
  CONNECTING: "connecting", // socket opening or authenticating
  ONLINE: "online", // authenticated; calls and subscriptions flow
  OFFLINE: "offline", // lost; a retry is scheduled (see retryAt)
  STOPPED: "stopped", // signed out, or the token was refused
});

export class CallError extends Error {
  constructor({ code = "internal", message = "unknown error" } = {}) {
    super(message);
    this.code = code;
  }
}

const AUTH_REFUSED = new Set(["unauthenticated", "forbidden"]);
const MAX_ORPHAN_FRAMES = 200_000;

export class Connection extends EventTarget {
  state = ConnState.STOPPED;
  /** The `auth` result: {user, role, methods}. */
  session = null;
  /** How many times this connection has authenticated (1 on the first success). */
  sessions = 0;
  /** When the next attempt starts (ms since epoch) while OFFLINE. */
  retryAt = 0;
  /** Why the server closed the last socket, if it said: {code, reason}. */
  lastClose = null;
  /** What the server said of itself on this session: "live", or "draining" once it pushed
   * {"msg": "server", "state": "draining"} (shutting down; calls flow until it closes). */
  serverState = "live";

  #url;
  #token;
  #ws = null;
  #nextId = 1;
  #pending = new Map(); // call id -> {resolve, reject, timer}
  #subs = new Set(); // live subscription records
  #bySubId = new Map(); // server sub id -> record
  #orphans = new Map(); // server sub id -> frames that came before the subscribe result
  #attempts = 0;
  #retryTimer = null;
  #probeTimer = null;
  #opts;

  /** `probeUrl`: an HTTP address that answers 2xx once the server is back (its /readyz); while
   * offline it is asked every `probeEvery` ms, and a yes retries at once with the backoff reset. */
  constructor(url, token, { minDelay = 500, maxDelay = 10_000, callTimeout = 20_000, probeUrl = null, probeEvery = 500 } = {}) {
    super();
    this.#url = url;
    this.#token = token;
    this.#opts = { minDelay, maxDelay, callTimeout, probeUrl, probeEvery };
  }

  /** Use another token from the next start() on. */
  setToken(token) {
    this.#token = token;
  }

  start() {
    if (this.state !== ConnState.STOPPED) return;
    this.#attempts = 0;
    this.#open();
  }

  stop() {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    this.#setState(ConnState.STOPPED);
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, "signed out");
    this.#dropSession("stopped");
  }

  /** While OFFLINE, try again now instead of waiting for the backoff. */
  retryNow() {
    if (this.state !== ConnState.OFFLINE) return;
    clearTimeout(this.#retryTimer);
    this.#open();
  }

  call(method, params = {}) {
    if (this.state !== ConnState.ONLINE) {
      return Promise.reject(new CallError({ code: "unavailable", message: "not connected" }));
    }
    return this.#send(method, params);
  }

  may(method) {
    return Boolean(this.session && this.session.methods.includes(method));
  }

  /** `extra`: `{sort, limit, skip}` for a live window, `{counts: true}` for a count feed. */
  subscribe(filter, onEvent, extra = {}) {
    const record = { filter, extra, onEvent, subId: null, building: null, order: null };
    this.#subs.add(record);
    if (this.state === ConnState.ONLINE) this.#startSub(record);
    return {
      close: () => {
        this.#subs.delete(record);
        if (record.subId !== null) {
          this.#bySubId.delete(record.subId);
          this.call("unsubscribe", { sub: record.subId }).catch(() => {});
        }
      },
    };
  }

  // -- internals --------------------------------------------------------------------------

  #setState(state) {
    if (this.state === state && state !== ConnState.OFFLINE) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryAt: this.retryAt } }));
  }

  #open() {
    this.#setState(ConnState.CONNECTING);
    let ws;
    try {
      ws = new WebSocket(this.#url);
    } catch (err) {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.addEventListener("open", () => ws === this.#ws && this.#authenticate());
    ws.addEventListener("message", (event) => ws === this.#ws && this.#onFrame(event.data));
    ws.addEventListener("close", (event) => {
      if (ws !== this.#ws) return;
      this.#ws = null;
      this.lastClose = { code: event.code, reason: event.reason };
      this.#dropSession("connection lost");
      if (this.state !== ConnState.STOPPED) this.#scheduleRetry();
    });
  }

  async #authenticate() {
    let session;
    try {
      // batch: the server may pack many frames into one message when changes pour in
      session = await this.#send("auth", { token: this.#token, batch: true });
    } catch (err) {
      if (AUTH_REFUSED.has(err.code)) {
        this.stop();
        this.dispatchEvent(new CustomEvent("authfailed", { detail: err }));
      } else if (this.#ws) {
        this.#ws.close(4000, "auth did not complete");
      }
      return;
    }
    this.session = { user: "", role: "", methods: [], ...session };
    this.serverState = "live";
    this.sessions += 1;
    // Backoff restarts only once the connection proved healthy (its snapshots arrived), so a
    // server that keeps cutting us off mid-snapshot is not hammered every half second.
    if (this.#subs.size === 0) this.#attempts = 0;
    this.#setState(ConnState.ONLINE);
    this.dispatchEvent(new CustomEvent("session", { detail: this.session }));
    for (const record of this.#subs) this.#startSub(record);
  }

  #scheduleRetry() {
    const { minDelay, maxDelay } = this.#opts;
    const base = Math.min(maxDelay, minDelay * 2 ** this.#attempts);
    const delay = base * (0.75 + Math.random() * 0.5);
    this.#attempts += 1;
    this.retryAt = Date.now() + delay;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#open(), delay);
    this.#setState(ConnState.OFFLINE);
    this.#probe();
  }

  /** While offline, ask the server's readiness address; reachable again means retry now. */
  #probe() {
    const { probeUrl, probeEvery } = this.#opts;
    if (!probeUrl || this.#probeTimer) return;
    this.#probeTimer = setTimeout(async () => {
      let ok = false;
      try {
        ok = (await fetch(probeUrl, { cache: "no-store" })).ok;
      } catch {
        ok = false; // refused or unreachable: still down
      }
      this.#probeTimer = null;
      if (this.state !== ConnState.OFFLINE) return;
      if (ok) {
        this.#attempts = 0;
        this.retryNow();
      } else {
        this.#probe();
      }
    }, probeEvery);
  }

  #dropSession(reason) {
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(new CallError({ code: "unavailable", message: reason }));
    }
    this.#pending.clear();
    this.#bySubId.clear();
    this.#orphans.clear();
    for (const record of this.#subs) {
      record.subId = null;
      record.building = null;
    }
  }

  #send(method, params) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new CallError({ code: "unavailable", message: "not connected" }));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new CallError({ code: "timeout", message: `${method}: no reply` }));
      }, this.#opts.callTimeout);
      this.#pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ msg: "call", id, method, params }));
    });
  }

  async #startSub(record) {
    // Frames may arrive before the reply that names the subscription: build the snapshot
    // from the first frame on, and adopt any orphans once the id is known.
    record.building = new Map();
    let reply;
    try {
      reply = await this.call("subscribe", { filter: record.filter, ...record.extra });
    } catch (err) {
      if (err.code !== "unavailable") {
        this.dispatchEvent(new CustomEvent("suberror", { detail: err }));
      }
      return;
    }
    if (!this.#subs.has(record)) {
      this.call("unsubscribe", { sub: reply.sub }).catch(() => {});
      return;
    }
    record.subId = reply.sub;
    this.#bySubId.set(reply.sub, record);
    const early = this.#orphans.get(reply.sub) || [];
    this.#orphans.delete(reply.sub);
    for (const frame of early) this.#onSubFrame(record, frame);
  }

  #onFrame(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (Array.isArray(message)) {
      for (const frame of message) this.#onOneFrame(frame);
    } else {
      this.#onOneFrame(message);
    }
  }

  #onOneFrame(frame) {
    switch (frame.msg) {
      case "result":
      case "error": {
        const waiting = this.#pending.get(frame.id);
        if (!waiting) return;
        this.#pending.delete(frame.id);
        clearTimeout(waiting.timer);
        if (frame.msg === "result") waiting.resolve(frame.result);
        else waiting.reject(new CallError(frame.error));
        return;
      }
      case "added":
      case "changed":
      case "removed":
      case "ready":
      case "order":
      case "counts":
      case "reset": {
        const record = this.#bySubId.get(frame.sub);
        if (record) {
          this.#onSubFrame(record, frame);
        } else {
          const list = this.#orphans.get(frame.sub) || [];
          if (list.length < MAX_ORPHAN_FRAMES) list.push(frame);
          this.#orphans.set(frame.sub, list);
        }
        return;
      }
      case "server":
        // the server's own state (docs/protocol.md): "draining" while it shuts down
        this.serverState = frame.state;
        this.dispatchEvent(new CustomEvent("server", { detail: { state: frame.state } }));
        return;
      case "types":
        // the flow rules changed (after `types.watch`): the whole list as it is now
        this.dispatchEvent(new CustomEvent("types", { detail: frame.types }));
        return;
      case "workers":
        // this server's workers changed (after `workers.watch`): the whole list as it is now
        this.dispatchEvent(new CustomEvent("workers", { detail: frame.workers }));
        return;
      default:
        // "job" and "cancel" frames are for workers; the dashboard never starts one.
        return;
    }
  }

  #onSubFrame(record, frame) {
    const building = record.building;
    switch (frame.msg) {
      case "added":
      case "changed":
        if (building) building.set(frame.doc.id, frame.doc);
        else record.onEvent({ kind: frame.msg, doc: frame.doc });
        return;
      case "removed":
        if (building) building.delete(frame.id);
        else record.onEvent({ kind: "removed", id: frame.id });
        return;
      case "order": // a live window's order (docs/protocol.md, "Live windows")
        if (building) record.order = frame;
        else record.onEvent({ kind: "order", ids: frame.ids, more: frame.more });
        return;
      case "counts":
        record.onEvent({ kind: "counts", counts: frame.counts });
        return;
      case "ready":
        if (building) {
          this.#attempts = 0;
          record.building = null;
          const { ids = null, more = false } = record.order || {};
          record.onEvent({ kind: "snapshot", docs: building, ids, more });
        }
        return;
      case "reset":
        record.building = new Map();
        return;
    }
  }
}
