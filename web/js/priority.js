// The job's priority in the detail panel: a select of the named levels for a role that may call
// jobs.set_priority while the job is queued, plain text otherwise (the server answers
// `conflict` once it runs or finished).
import { el, toast } from "./dom.js";
import { PRIORITIES, priorityLabel } from "./format.js";
import { STATUS as S } from "./names.js";

const METHOD = "jobs.set_priority";
const QUEUED = [S.WAITING, S.READY, S.PAUSED];
const NAMED = new Set(Object.values(PRIORITIES));

/** The method as the bulk bar's action ("Priority…"): which statuses it applies to. */
export const SET_PRIORITY = { name: "set_priority", label: "Priority", method: METHOD, from: QUEUED };

/** Options for `values` (default: the named levels), most urgent first: the order a claim
 * takes them. */
export function levelOptions(values = [...NAMED]) {
  return values.sort((a, b) => a - b).map((v) => el("option", { value: v, text: priorityText(v) }));
}

/** "high (-10)" for a named level, "3" for any other integer. */
export function priorityText(value) {
  const name = priorityLabel(value);
  return name === String(value) ? name : `${name} (${value})`;
}

export class PriorityControl {
  #conn;
  #onDone;
  #select;
  #doc = null; // the job the select was last drawn for
  #answer = null; // the call's updated job, until the live copy catches up with it
  #custom; // the non-level value among the options, if any (undefined: none drawn yet)
  #busy = false;

  /** `onDone`: called after a change was answered, to draw the job again. */
  constructor(conn, onDone) {
    this.#conn = conn;
    this.#onDone = onDone;
    this.#select = el("select", {
      id: "detail-priority",
      class: "priority-select",
      "aria-label": "Priority",
      onchange: () => this.#change(),
    });
  }

  /** What the Priority fact holds for `doc`: the select when its role may change it, else text. */
  fact(doc) {
    if (!this.#conn.may(METHOD) || !QUEUED.includes(doc.status)) return priorityText(doc.priority);
    this.#doc = doc;
    // while the call is out, the select keeps the user's pick
    if (!this.#busy) {
      const a = this.#answer;
      this.#fill(a && a.id === doc.id && a.updated > doc.updated ? a.priority : doc.priority);
    }
    return this.#select;
  }

  #fill(value) {
    const custom = NAMED.has(value) ? null : value;
    if (this.#custom !== custom) {
      this.#custom = custom;
      this.#select.replaceChildren(...levelOptions([...NAMED, ...(custom === null ? [] : [custom])]));
    }
    this.#select.value = String(value);
  }

  async #change() {
    const id = this.#doc.id;
    const select = this.#select;
    this.#busy = true;
    select.disabled = true;
    try {
      this.#answer = await this.#conn.call(METHOD, { id, priority: Number(select.value) });
      toast(`Priority: ${priorityText(this.#answer.priority)}`, "success", 2000);
    } catch (err) {
      toast(`Priority failed: ${err.message}`, "danger");
    } finally {
      this.#busy = false;
      select.disabled = false;
    }
    this.#onDone(); // shows the answer, or the old value after a refusal
  }
}
