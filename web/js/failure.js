// A job's failures as a person reads them: the error's type and message apart, the traceback
// as Python printed it, and when a failed attempt waits for its retry, when and which one.
import { el } from "./dom.js";
import { clockTime, jsonView } from "./format.js";

/**
 * "retry at 14:03:07 (attempt 2 of 5)" for a job waiting between attempts, else "".
 * The server moves `after` to the retry time when an attempt fails (server/jobs/lifecycle.py);
 * the wait follows a failure when the latest failure is the latest attempt.
 */
export function retryText(doc) {
  const failures = doc.failures || [];
  if (doc.status !== "waiting" || !failures.length || !doc.after) return "";
  if (failures[failures.length - 1].attempt !== doc.attempts) return "";
  const total = (doc.retry ? doc.retry.retries : 0) + 1;
  return `retry at ${clockTime(doc.after)} (attempt ${doc.attempts + 1} of ${total})`;
}

/**
 * A stored failure (server/failures.py render_failure says the same for the CLI): the SDK's
 * {message, type, traceback} as the type and message apart and the traceback preformatted; a
 * string as it is; anything else as JSON. Built from text nodes, never HTML.
 */
export function failureBody(error) {
  // tabindex: a box that scrolls is reachable from the keyboard
  if (typeof error === "string") return [el("pre", { class: "error-text", tabindex: 0, text: error })];
  if (!error || typeof error !== "object" || Array.isArray(error)) return [jsonView(error)];
  const { type, message, traceback, ...others } = error;
  const parts = [];
  if (type || message !== undefined) {
    parts.push(
      el(
        "div",
        { class: "error-head" },
        type ? el("span", { class: "error-type", text: String(type) }) : null,
        message !== undefined && message !== null ? el("span", { class: "error-message", text: String(message) }) : null,
      ),
    );
  }
  if (typeof traceback === "string" && traceback.trim()) {
    const text = traceback.replace(/\n+$/, "");
    parts.push(el("pre", { class: "error-text traceback", tabindex: 0, "aria-label": "Traceback", text }));
  }
  if (Object.keys(others).length) parts.push(jsonView(others));
  return parts;
}
