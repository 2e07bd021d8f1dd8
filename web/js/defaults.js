// The form behind "Defaults…" (and "Defaults for another type…") in the Queues view: what a
// type gives its jobs created without their own, a time limit (`types.set_time_limit`) and a
// retry policy (`types.set_retry`). An empty field means no default; a job keeps what it was
// created with.
import { $, count, number, submitDialog, toast } from "./dom.js";
import { FormDialog } from "./dialog.js";

const MAX_TIME_LIMIT = 86400 * 31; // the server's bound on a time limit
const MAX_WAIT = 10 * 365 * 86400; // ... on a retry's wait and max_wait
const MAX_RETRIES = 1_000_000; // ... on retries

export class DefaultsDialog extends FormDialog {
  constructor(dialog, { rules }) {
    super(dialog, { rules, name: "defaults", title: "Defaults", first: "time_limit" });
  }

  fill(rule) {
    const f = this.form.elements;
    const retry = rule?.retry ?? null;
    f.time_limit.value = rule?.time_limit ?? "";
    // The server leaves out a policy's default values: a stored {} is 0 retries.
    f.retries.value = retry ? (retry.retries ?? 0) : "";
    f.wait.value = retry?.wait ?? "";
    f.backoff.value = retry?.backoff ?? "constant";
    f.max_wait.value = retry?.max_wait ?? "";
  }

  /** `{type, time_limit, retry}` from the form (null: no default), or throws with a message
   * for the user. */
  defaults() {
    const f = this.form.elements;
    // A listed row's type is used as it is; a typed one loses the spaces around it.
    const type = f.type.readOnly ? f.type.value : f.type.value.trim();
    if (!type) throw new Error("A type is required.");
    const timeLimit = number(f.time_limit, "The time limit");
    if (timeLimit !== null && (timeLimit <= 0 || timeLimit > MAX_TIME_LIMIT)) {
      throw new Error(`The time limit must be more than 0 and at most ${MAX_TIME_LIMIT.toLocaleString()} seconds.`);
    }
    const retries = count(f.retries, "Retries", 0);
    const wait = seconds(f.wait, "The wait");
    const maxWait = seconds(f.max_wait, "The longest wait");
    if (retries === null) {
      // A wait without retries would be dropped silently: say so instead (the backoff always
      // has a value, and means nothing without retries).
      if (wait !== null || maxWait !== null) {
        throw new Error("Give a number of retries (0 or more) with a wait, or leave the waits empty too.");
      }
      return { type, time_limit: timeLimit, retry: null };
    }
    if (retries > MAX_RETRIES) throw new Error(`Retries must be at most ${MAX_RETRIES.toLocaleString()}.`);
    const retry = { retries, wait: wait ?? 0, backoff: f.backoff.value };
    if (maxWait !== null) retry.max_wait = maxWait;
    // `until` (set through the API) has no field here: keep it rather than drop it unseen.
    const until = this.rules.get(type)?.retry?.until;
    if (until != null) retry.until = until;
    return { type, time_limit: timeLimit, retry };
  }

  async submit() {
    const error = $("#defaults-error", this.dialog);
    await submitDialog(this.dialog, this.form, error, () => this.defaults(), async ({ type, time_limit, retry }) => {
      // Only what changed is sent: after a failed second call, saving again retries just that.
      const rule = this.rules.get(type);
      if ((rule?.time_limit ?? null) !== time_limit) await this.save(type, (rev) => this.rules.setTimeLimit(type, time_limit, rev));
      if (policyKey(rule?.retry) !== policyKey(retry)) await this.save(type, (rev) => this.rules.setRetry(type, retry, rev));
      toast(`Saved the defaults of ${type}`, "success", 2500);
    });
  }
}

function seconds(field, what) {
  const n = number(field, what);
  if (n !== null && (n < 0 || n > MAX_WAIT)) throw new Error(`${what} must be 0 to ${MAX_WAIT.toLocaleString()} seconds.`);
  return n;
}

/** A policy with the server's defaults filled in, to compare the stored one with the form's. */
function policyKey(retry) {
  if (retry == null) return "none";
  const { retries = 0, wait = 0, backoff = "constant", max_wait = null, until = null } = retry;
  return JSON.stringify([retries, wait, backoff, max_wait, until]);
}
