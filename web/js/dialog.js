// A <dialog> holding one form about a job type's rules, as the Queues view's editors use it:
// submitting the form calls the subclass's `submit()` (the browser's own submit would close
// the dialog unchecked), and the cancel button closes it.
import { $ } from "./dom.js";

export class FormDialog {
  constructor(dialog, cancel, rules) {
    this.dialog = dialog;
    this.form = $("form", dialog);
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $(cancel, dialog).addEventListener("click", () => dialog.close());
    // A type typed in that has rules already shows them (the subclass's `fill(rule)`), so
    // that saving keeps what the user did not change instead of clearing it.
    this.form.elements.type.addEventListener("change", (e) => {
      const rule = rules.get(e.target.value.trim());
      if (rule) this.fill(rule);
    });
  }
}
