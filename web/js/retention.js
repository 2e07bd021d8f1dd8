// The form behind "Retention…" in the Queues view: how a type keeps its finished jobs, for
// how long (`types.set_retain`; empty: the server's `retain_seconds`) and how many of the newest
// of each status (`types.set_keep`; empty: no count, older ones go by age alone).
import { $, count, number, submitDialog, toast } from "./dom.js";
import { FormDialog } from "./dialog.js";

const MAX_RETAIN = 10 * 365 * 86400; // the server's bound on seconds
const MAX_KEEP = 10_000_000; // ... on a count
const KEPT = ["completed", "failed", "cancelled"];

export class RetentionDialog extends FormDialog {
  constructor(dialog, { rules }) {
    super(dialog, { rules, name: "retention", title: "Finished jobs", first: "retain" });
  }

  fill(rule) {
    const f = this.form.elements;
    f.retain.value = rule?.retain ?? "";
    for (const status of KEPT) f[`keep_${status}`].value = rule?.keep?.[status] ?? "";
  }

  /** `{type, retain, keep}` from the form (null: none), or throws with a message for the user. */
  retention() {
    const f = this.form.elements;
    const type = f.type.readOnly ? f.type.value : f.type.value.trim();
    if (!type) throw new Error("A type is required.");
    const retain = number(f.retain, "Keep for");
    if (retain !== null && (retain < 0 || retain > MAX_RETAIN)) {
      throw new Error(`Keep for must be 0 to ${MAX_RETAIN.toLocaleString()} seconds.`);
    }
    const keep = {};
    for (const status of KEPT) {
      const n = count(f[`keep_${status}`], `Newest ${status}`, 0);
      if (n !== null && n > MAX_KEEP) throw new Error(`Newest ${status} must be at most ${MAX_KEEP.toLocaleString()}.`);
      if (n !== null) keep[status] = n;
    }
    return { type, retain, keep: Object.keys(keep).length ? keep : null };
  }

  async submit() {
    const error = $("#retention-error", this.dialog);
    await submitDialog(this.dialog, this.form, error, () => this.retention(), async ({ type, retain, keep }) => {
      // Only what changed is sent: after a failed second call, saving again retries just that.
      const rule = this.rules.get(type);
      if ((rule?.retain ?? null) !== retain) await this.save(type, (rev) => this.rules.setRetain(type, retain, rev));
      if (keepKey(rule?.keep) !== keepKey(keep)) await this.save(type, (rev) => this.rules.setKeep(type, keep, rev));
      toast(`Saved how ${type} keeps its finished jobs`, "success", 2500);
    });
  }
}

function keepKey(keep) {
  return JSON.stringify(KEPT.map((status) => keep?.[status] ?? null));
}
