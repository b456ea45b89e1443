// Accessible form pieces shared by the account screens: labelled fields whose hint and error
// are linked with aria-describedby, one live region per form for progress and errors,
// a "show password" toggle, busy state while keys are derived, the recovery-code sheet.

import { h } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";

let counter = 0;
const uid = (prefix) => `${prefix}-${++counter}`;

function describedBy(...ids) {
  return ids.filter(Boolean).join(" ") || null;
}

/**
 * A labelled input. Returns {root, input, setError(messages), clearError()}.
 * `hint` (string or Node) is shown under the label and read with the field.
 */
export function field({
  name, label, type = "text", hint = null, autocomplete = null, inputmode = null, required = true,
  dir = null, value = "", maxlength = null, minlength = null, pattern = null, spellcheck = null,
  autocapitalize = null, extraDescribedBy = null, lang = null,
}) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h("input", {
    id, name, type, autocomplete, inputmode, dir, maxlength, minlength, pattern, lang,
    required: required || null,
    "aria-required": required ? "true" : null,
    spellcheck: spellcheck === null ? null : String(spellcheck),
    autocapitalize,
    "aria-describedby": describedBy(hintId, extraDescribedBy),
  });
  input.value = value;
  const error = h("p", { id: errorId, class: "field-error error", hidden: true });
  const root = h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { id: hintId, class: "hint" }, hint) : null,
    input,
    error,
  );
  return wire(root, input, error, hintId, extraDescribedBy);
}

function wire(root, input, error, hintId, extra) {
  const api = {
    root, input,
    setError(messages) {
      const list = (Array.isArray(messages) ? messages : [messages]).filter(Boolean);
      if (!list.length) return api.clearError();
      error.replaceChildren(...list.flatMap((m, i) => (i ? [h("br"), m] : [m])));
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", describedBy(error.id, hintId, extra));
      return true;
    },
    clearError() {
      error.replaceChildren();
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      const ids = describedBy(hintId, extra);
      if (ids) input.setAttribute("aria-describedby", ids);
      else input.removeAttribute("aria-describedby");
      return false;
    },
  };
  return api;
}

/** A password field with a "show" toggle (typing on a small phone keyboard is hard). */
export function passwordField({ name, label, autocomplete = "current-password", hint = null, extraDescribedBy = null }) {
  const f = field({
    name, label, type: "password", autocomplete, hint, dir: "auto", spellcheck: false,
    autocapitalize: "off", extraDescribedBy,
  });
  const toggle = h("button", {
    type: "button", class: "button small reveal", "aria-pressed": "false", "aria-controls": f.input.id,
  }, t("Show password"));
  toggle.addEventListener("click", () => {
    const show = f.input.type === "password";
    f.input.type = show ? "text" : "password";
    toggle.setAttribute("aria-pressed", show ? "true" : "false");
  });
  const row = h("div", { class: "input-row" });
  f.input.replaceWith(row);
  row.append(f.input, toggle);
  return f;
}

export function selectField({ name, label, options, value = "", hint = null }) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const select = h("select", { id, name, "aria-describedby": hintId });
  for (const option of options) {
    select.append(h("option", {
      value: option.value, lang: option.lang, dir: option.dir, selected: option.value === value,
    }, option.label));
  }
  const error = h("p", { id: `${id}-error`, class: "field-error error", hidden: true });
  const root = h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { id: hintId, class: "hint" }, hint) : null,
    select,
    error,
  );
  return wire(root, select, error, hintId, null);
}

export function checkboxField({ name, label }) {
  const id = uid(`f-${name}`);
  const input = h("input", { id, name, type: "checkbox", class: "checkbox" });
  const error = h("p", { id: `${id}-error`, class: "field-error error", hidden: true });
  const root = h("div", { class: "field checkbox-field" },
    h("div", { class: "checkbox-row" }, input, h("label", { for: id }, label)),
    error,
  );
  return wire(root, input, error, null, null);
}

/**
 * The form's two live regions: `status` (polite; progress such as "Securing your account…")
 * and `alert` (errors). Both exist from the first paint, so screen readers notice changes.
 */
export function formStatus() {
  const status = h("div", { class: "form-status", role: "status", "aria-live": "polite" });
  const alert = h("div", { class: "form-alert", role: "alert", "aria-live": "assertive" });
  const root = h("div", { class: "form-messages" }, status, alert);
  return {
    root,
    progress(message) {
      alert.replaceChildren();
      status.replaceChildren(message ? h("p", { class: "progress" }, h("span", { class: "spinner", "aria-hidden": "true" }), message) : "");
    },
    info(message) {
      alert.replaceChildren();
      status.replaceChildren(message ? h("p", { class: "notice" }, message) : "");
    },
    error(message) {
      status.replaceChildren();
      alert.replaceChildren(message ? h("p", { class: "error-box" }, message) : "");
    },
    clear() {
      status.replaceChildren();
      alert.replaceChildren();
    },
  };
}

/** Disable the form while working; keeps focus where it was. */
export function setBusy(form, busy) {
  form.setAttribute("aria-busy", busy ? "true" : "false");
  for (const el of form.querySelectorAll("button, input, select, textarea")) {
    if (busy) {
      if (!el.disabled) { el.disabled = true; el.dataset.busyDisabled = "1"; }
    } else if (el.dataset.busyDisabled) {
      el.disabled = false;
      delete el.dataset.busyDisabled;
    }
  }
}

/**
 * Validate fields: `checks` is a list of [fieldApi, problems[]]. Shows every problem next to
 * its field, announces the first one and moves focus there. Returns true if all is fine.
 */
export function showProblems(status, checks) {
  let first = null;
  for (const [f, problems] of checks) {
    if (f.setError(problems) && !first) first = [f, problems];
  }
  if (!first) return true;
  status.error(first[1][0]);
  first[0].input.focus();
  return false;
}

export function submitButton(label) {
  return h("button", { type: "submit", class: "button primary" }, label);
}

export function pageHeading(text, id = null) {
  return h("h1", { id }, text);
}

// The recovery code, large and readable, always left-to-right (Latin letters and digits):
// its 7 groups of 4 wrap as whole groups. The dashes are for copying and reading aloud only.
export function recoveryCodeBlock(code) {
  const groups = code.split("-");
  return h("p", { class: "recovery-code", dir: "ltr", translate: "no", "data-testid": "recovery-code", "data-code": code },
    ...groups.map((group, i) => h("span", { class: "group" }, group, i < groups.length - 1 ? h("span", { class: "dash" }, "-") : null)),
  );
}

// A fingerprint: 12 groups of 5 digits, in a grid so two people can compare them group by group.
export function fingerprintBlock(fingerprint, labelledBy) {
  const groups = String(fingerprint || "").split(/\s+/).filter(Boolean);
  return h("p", { class: "fingerprint", dir: "ltr", translate: "no", "aria-labelledby": labelledBy, "data-fingerprint": groups.join(" ") },
    ...groups.flatMap((group, i) => [i ? " " : null, h("span", { class: "group" }, group)]),
  );
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Older browsers or no permission: select a temporary field and use the legacy command.
    const area = h("textarea", { class: "visually-hidden", "aria-hidden": "true", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
    return ok;
  }
}

// Views that wait for the network before drawing check this first: if the person moved on to
// another screen meanwhile, the late result must not be drawn into the new screen.
export function routeGuard() {
  const hash = location.hash;
  return () => location.hash !== hash;
}
