// A <dialog> holding one form, as the Queues view's editors use it: submitting the form calls
// the subclass's `submit()` (the browser's own submit would close the dialog unchecked), and
// the cancel button closes it.
import { $ } from "./dom.js";

export class FormDialog {
  constructor(dialog, cancel) {
    this.dialog = dialog;
    this.form = $("form", dialog);
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $(cancel, dialog).addEventListener("click", () => dialog.close());
  }
}
