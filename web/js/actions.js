// The control actions on a job: which method, from which statuses, and how to call them.
// Only actions whose method is in the session's `methods` are ever offered.
import { setText, toast } from "./dom.js";
import { shortId } from "./format.js";
import { STATUS as S, UNFINISHED } from "./names.js";

export const ACTIONS = [
  { name: "cancel", label: "Cancel", method: "jobs.cancel", from: UNFINISHED, kind: "warning" },
  { name: "pause", label: "Pause", method: "jobs.pause", from: [S.WAITING, S.READY] },
  { name: "resume", label: "Resume", method: "jobs.resume", from: [S.PAUSED] },
  { name: "ready", label: "Run now", method: "jobs.ready", from: [S.WAITING] },
  { name: "restart", label: "Restart", method: "jobs.restart", from: [S.FAILED, S.CANCELLED] },
  { name: "rerun", label: "Rerun", method: "jobs.rerun", from: [S.COMPLETED] },
  { name: "remove", label: "Remove", method: "jobs.remove", from: null, kind: "danger", confirm: true },
];

export function allowedActions(conn) {
  return ACTIONS.filter((action) => conn.may(action.method));
}

export function applies(action, status) {
  return action.from === null || action.from.includes(status);
}

/** Run one action on one job; reports failures as a toast and returns the result or null. */
export async function runAction(conn, action, id) {
  try {
    const result = await conn.call(action.method, { id });
    toast(`${action.label}: done`, "success", 2000);
    return result;
  } catch (err) {
    toast(`${action.label} failed: ${err.message}`, "danger");
    return null;
  }
}

/** Run one action on many jobs: the bulk form of the method, or one call per job for roles
 * that may not use the bulk form (the server keeps it for managers and admins). `params`:
 * the method's other params (set_priority's `priority`). */
export async function runBulk(conn, action, ids, params = {}) {
  if (!ids.length) return [];
  try {
    let reply;
    try {
      reply = await conn.call(action.method, { ...params, ids });
    } catch (err) {
      if (err.code !== "forbidden") throw err;
      reply = await oneByOne(conn, action, ids, params);
    }
    const { done = [], errors = {} } = reply;
    const failed = Object.entries(errors);
    if (failed.length) {
      const [firstId, first] = failed[0];
      toast(
        `${action.label}: ${done.length} done, ${failed.length} refused ` +
          `(${shortId(firstId)}: ${first.message})`,
        "warning",
        6000,
      );
    } else {
      toast(`${action.label}: ${done.length} done`, "success", 2500);
    }
    return done;
  } catch (err) {
    toast(`${action.label} failed: ${err.message}`, "danger");
    return [];
  }
}

async function oneByOne(conn, action, ids, params) {
  const done = [];
  const errors = {};
  await Promise.all(
    ids.map((id) =>
      conn.call(action.method, { ...params, id }).then(
        () => done.push(id),
        (err) => (errors[id] = { code: err.code, message: err.message }),
      ),
    ),
  );
  return { done, errors };
}

// A destructive action's button asks once ("Confirm cancel?") and acts on the second click
// within four seconds; shared by the detail panel and the bulk bar.
export class ConfirmGate {
  #armed = null;

  // Whether ``button`` may act now; if not, it is armed and relabelled to ask.
  pass(action, button) {
    if (action.confirm && this.#armed !== button) {
      this.#armed = button;
      setText(button, `Confirm ${action.label.toLowerCase()}?`);
      setTimeout(() => {
        if (this.#armed === button) this.#armed = null;
        setText(button, action.label);
      }, 4000);
      return false;
    }
    this.#armed = null;
    setText(button, action.label);
    return true;
  }
}
