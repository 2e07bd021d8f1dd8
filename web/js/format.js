// Turning job fields into text: statuses, priorities, times, JSON.
import { el } from "./dom.js";
import { PRIORITIES, STATUSES } from "./names.js";

// the statuses in lifecycle order and the named priorities, as the server declares them
export { PRIORITIES, STATUSES };
const PRIORITY_NAMES = new Map(Object.entries(PRIORITIES).map(([name, value]) => [value, name]));

export function priorityLabel(value) {
  return PRIORITY_NAMES.get(value) ?? String(value);
}

/** The id's last characters: ids start with their creation time, so the ends tell jobs apart. */
export function shortId(id) {
  return id.length > 10 ? id.slice(-10) : id;
}

/** "just now", "12s ago", "3m ago", "in 40s"... from epoch seconds. */
export function relTime(seconds, now = Date.now() / 1000) {
  if (seconds === null || seconds === undefined) return "—";
  const delta = now - seconds;
  const ahead = delta < 0;
  const d = Math.abs(delta);
  let text;
  if (d < 2) return "just now";
  if (d < 60) text = `${Math.floor(d)}s`;
  else if (d < 3600) text = `${Math.floor(d / 60)}m`;
  else if (d < 86400) text = `${Math.floor(d / 3600)}h`;
  else text = `${Math.floor(d / 86400)}d`;
  return ahead ? `in ${text}` : `${text} ago`;
}

export function absTime(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toLocaleString();
}

export function clockTime(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

const lastWorker = new WeakMap(); // doc -> worker id (documents are replaced, never mutated)

/** The worker of the latest attempt: the job's `worker` field, kept after it finishes. */
export function workerOf(job) {
  if (job.worker !== undefined) return job.worker || "";
  if (job.lease && job.lease.worker) return job.lease.worker;
  return legacyWorkerOf(job);
}

// Jobs stored before servers kept `worker` only say it in their audit trail.
function legacyWorkerOf(job) {
  let found = lastWorker.get(job);
  if (found === undefined) {
    found = "";
    const log = job.log || [];
    for (let i = log.length - 1; i >= 0; i--) {
      if (log[i].by && /^started by worker/.test(log[i].message)) {
        found = log[i].by;
        break;
      }
    }
    if (!found && job.failures && job.failures.length) found = job.failures[job.failures.length - 1].worker || "";
    lastWorker.set(job, found);
  }
  return found;
}

const MAX_JSON_CHARS = 200_000;
const TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/**
 * Pretty JSON with coloured tokens, built from text nodes and spans (never innerHTML), so a
 * job's data cannot inject markup. Very large values are cut with a note.
 */
export function jsonView(value) {
  let text = JSON.stringify(value, null, 2) ?? "undefined";
  const pre = el("pre", { class: "json" });
  let cut = false;
  if (text.length > MAX_JSON_CHARS) {
    text = text.slice(0, MAX_JSON_CHARS);
    cut = true;
  }
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    if (match.index > last) pre.append(text.slice(last, match.index));
    const [whole, str, colon, literal, num] = match;
    if (str !== undefined) {
      pre.append(el("span", { class: colon ? "j-key" : "j-str", text: str }));
      if (colon) pre.append(colon);
    } else if (literal !== undefined) {
      pre.append(el("span", { class: "j-lit", text: literal }));
    } else if (num !== undefined) {
      pre.append(el("span", { class: "j-num", text: num }));
    }
    last = match.index + whole.length;
  }
  if (last < text.length) pre.append(text.slice(last));
  if (cut) pre.append(el("span", { class: "j-cut", text: `\n… cut at ${MAX_JSON_CHARS} characters` }));
  return pre;
}
