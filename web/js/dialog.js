// A <dialog> holding one form about a job type's rules, as the Queues view's editors use it
// (ids `#<name>-title`, `-error`, `-cancel`): submitting the form calls the subclass's
// `submit()` (the browser's own submit would close the dialog unchecked), the cancel button
// closes it, and the subclass's `fill(rule)` puts a type's rules in the fields.
import { $, setText } from "./dom.js";

export class FormDialog {
  #name;
  #title;
  #first;

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
      const rule = rules.get(e.target.value.trim());
      if (rule) this.fill(rule);
    });
  }

  /** Edit one type's rules, filled with those it has now, or (type null) choose the type too. */
  open(type) {
    const f = this.form.elements;
    f.type.value = type || "";
    f.type.readOnly = Boolean(type);
    this.fill(type ? this.rules.get(type) : null);
    setText($(`#${this.#name}-title`, this.dialog), `${this.#title} for ${type || "a type"}`);
    setText($(`#${this.#name}-error`, this.dialog), "");
    this.dialog.showModal();
    (type ? f[this.#first] : f.type).focus();
  }
}
