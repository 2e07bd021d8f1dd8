// A <dialog> holding one form about a job type's rules, as the Queues view's editors use it
// (ids `#<name>-title`, `-error`, `-cancel`): submitting the form calls the subclass's
// `submit()` (the browser's own submit would close the dialog unchecked), the cancel button
// closes it, and the subclass's `fill(rule)` puts a type's rules in the fields. Its changes go
// through `save`, at the revision of the rules the form was filled from: when someone changed
// them meanwhile, the server refuses (`conflict`) and the form is filled again with the rules as
// they are now, so that a save never undoes a change its user did not see.
import { $, setText } from "./dom.js";
import { listed } from "./rules.js";

export class FormDialog {
  #name;
  #title;
  #first;
  #seen = { type: null, rev: 0 }; // the rules the fields were filled from

  /** `title`: "Limits" → "Limits for render"; `first`: the field to focus for a known type. */
  constructor(dialog, { rules, name, title, first }) {
    this.dialog = dialog;
    this.rules = rules;
    this.form = $("form", dialog);
    this.#name = name;
    this.#title = title;
    this.#first = first;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $(`#${name}-cancel`, dialog).addEventListener("click", () => dialog.close());
    // A type typed in that has rules already shows them, so that saving keeps what the user
    // did not change instead of clearing it.
    this.form.elements.type.addEventListener("change", (e) => {
      const type = e.target.value.trim();
      const rule = rules.get(type);
      this.#seen = { type, rev: rule?.rev ?? 0 };
      if (rule) this.fill(rule);
    });
  }

  /** One change of `type`'s rules: `set(rev)` calls a setter at the revision the form was
   * filled from, and returns its reply, the rules after the change (see the header). */
  async save(type, set) {
    const rev = this.#seen.type === type ? this.#seen.rev : (this.rules.get(type)?.rev ?? 0);
    try {
      const rule = await set(rev);
      this.#seen = { type, rev: listed(rule) ? rule.rev : 0 }; // a type with no rules is at 0
      return rule;
    } catch (err) {
      if (err.code === "conflict") {
        await this.rules.refresh();
        const now = this.rules.get(type);
        this.#seen = { type, rev: now?.rev ?? 0 };
        this.fill(now);
        err.message = `someone changed the rules of ${type} meanwhile; the form shows them now: make your change again`;
      }
      throw err;
    }
  }

  /** Edit one type's rules, filled with those it has now, or (type null) choose the type too. */
  open(type) {
    const f = this.form.elements;
    f.type.value = type || "";
    f.type.readOnly = Boolean(type);
    this.#seen = { type, rev: (type && this.rules.get(type)?.rev) || 0 };
    this.fill(type ? this.rules.get(type) : null);
    setText($(`#${this.#name}-title`, this.dialog), `${this.#title} for ${type || "a type"}`);
    setText($(`#${this.#name}-error`, this.dialog), "");
    this.dialog.showModal();
    (type ? f[this.#first] : f.type).focus();
  }
}
