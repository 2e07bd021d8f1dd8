// The create-job form (offered only when the session may call `jobs.create`).
import { $, setText, submitDialog, toast } from "./dom.js";
import { shortId } from "./format.js";

export class CreateForm {
  #dialog;
  #form;
  #conn;
  #onCreated;

  constructor(dialog, { conn, onCreated }) {
    this.#dialog = dialog;
    this.#form = $("form", dialog);
    this.#conn = conn;
    this.#onCreated = onCreated;
    this.#form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#submit();
    });
    $("#create-cancel", dialog).addEventListener("click", () => dialog.close());
    this.#form.elements.data.addEventListener("input", () => this.#checkJson());
  }

  open() {
    setText($("#create-error", this.#dialog), "");
    this.#dialog.showModal();
    this.#form.elements.type.focus();
  }

  #checkJson() {
    const field = this.#form.elements.data;
    try {
      JSON.parse(field.value || "null");
      field.setCustomValidity("");
      return true;
    } catch (err) {
      field.setCustomValidity(`Not valid JSON: ${err.message}`);
      return false;
    }
  }

  /** The job spec from the form, or throws with a message for the user. */
  spec() {
    const f = this.#form.elements;
    const spec = { type: f.type.value.trim() };
    if (!spec.type) throw new Error("A type is required.");
    try {
      spec.data = JSON.parse(f.data.value.trim() || "null");
    } catch (err) {
      throw new Error(`Data is not valid JSON: ${err.message}`);
    }
    spec.priority = /^-?\d+$/.test(f.priority.value) ? Number(f.priority.value) : f.priority.value;
    const delay = Number(f.delay.value || 0);
    if (delay > 0) spec.delay = delay;
    const retries = Number(f.retries.value || 0);
    if (retries > 0) spec.retry = { retries };
    return spec;
  }

  async #submit() {
    const error = $("#create-error", this.#dialog);
    await submitDialog(this.#dialog, this.#form, error, () => this.spec(), async (spec) => {
      const job = await this.#conn.call("jobs.create", spec);
      toast(`Created ${spec.type} job ${shortId(job.id)}`, "success", 2500);
      this.#onCreated(job);
    });
  }
}
