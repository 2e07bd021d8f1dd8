// Tiny DOM helpers. Every value that may come from a job goes through textContent, never HTML.

/**
 * Build an element: el("td", {class: "x", dataset: {id}}, "text", otherNode).
 * Attributes starting with "on" are event listeners; `text` sets textContent.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector, root = document) {
  const found = root.querySelector(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return found;
}

/** Set text only when it differs, so live updates do not touch unchanged nodes. */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/**
 * Fill a <dl> with [term, text or node] pairs; in place while the terms stay the same, so a
 * control in it (an open select) is not taken out and put back by every live update.
 */
export function setFacts(dl, pairs) {
  const terms = dl.querySelectorAll(":scope > dt");
  if (terms.length !== pairs.length || pairs.some(([k], i) => terms[i].textContent !== k)) {
    dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
    return;
  }
  pairs.forEach(([, v], i) => {
    const dd = terms[i].nextElementSibling;
    if (v instanceof Node ? dd.firstChild !== v : dd.firstElementChild) dd.replaceChildren(v);
    else if (!(v instanceof Node)) setText(dd, v);
  });
}

/** Short-lived notices in the corner; kind is info | success | warning | danger. */
export function toast(message, kind = "info", ms = 4000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = el("div", { class: `toast toast-${kind}`, role: "status", text: message });
  box.append(item);
  setTimeout(() => item.remove(), ms);
}

/**
 * Submit a dialog's form: read it (a thrown Error is shown in `error`), then `send` it with the
 * submit button disabled; a server error is shown too, success closes the dialog.
 */
export async function submitDialog(dialog, form, error, read, send) {
  let value;
  try {
    value = read();
  } catch (err) {
    setText(error, err.message);
    return;
  }
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    await send(value);
    dialog.close();
  } catch (err) {
    setText(error, `${err.code}: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

/** A number field's value, null when empty; throws a message naming `what` for the user. */
export function number(field, what) {
  // A number input reports text it cannot read as "", which must not mean "none".
  if (field.validity.badInput) throw new Error(`${what} must be a number.`);
  const value = field.value.trim();
  if (!value) return null;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${what} must be a number.`);
  return n;
}

/** A whole number of at least `min`, or null when empty. */
export function count(field, what, min) {
  const n = number(field, what);
  if (n !== null && (!Number.isInteger(n) || n < min)) throw new Error(`${what} must be a whole number of at least ${min}.`);
  return n;
}
