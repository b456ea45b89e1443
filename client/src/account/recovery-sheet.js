// The recovery-code screen shown once after registration (and after accepting an invitation,
// and after making a new code on the account screen: `replaced`).
// Prints on its own (print CSS in account.css hides everything marked .no-print).

import { h, clear, focusHeading } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { checkboxField, copyText, formStatus, recoveryCodeBlock, submitButton } from "./ui.js";

/**
 * Replace `container`'s content with the recovery code; `onContinue()` runs once the person
 * confirmed they wrote it down or printed it.
 */
export function showRecoveryCode(container, { code, nickname, onContinue, replaced = false }) {
  clear(container);
  const status = formStatus();
  const confirm = checkboxField({ name: "recovery-saved", label: t("I have written down or printed my recovery code.") });
  const copied = h("p", { class: "copy-status no-print", role: "status", "aria-live": "polite" });

  const copy = h("button", { type: "button", class: "button" }, t("Copy"));
  copy.addEventListener("click", async () => {
    const ok = await copyText(code);
    copied.textContent = ok ? t("The recovery code was copied.") : t("Copying did not work. Please write the code down.");
  });
  const print = h("button", { type: "button", class: "button" }, t("Print"));
  print.addEventListener("click", () => window.print());

  const form = h("form", { class: "no-print recovery-confirm", novalidate: true },
    confirm.root,
    status.root,
    h("div", { class: "actions" }, submitButton(t("Continue"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!confirm.input.checked) {
      confirm.setError(t("Please tick the box once you have written down or printed your recovery code."));
      status.error(t("Please tick the box once you have written down or printed your recovery code."));
      confirm.input.focus();
      return;
    }
    confirm.clearError();
    onContinue();
  });
  confirm.input.addEventListener("change", () => { if (confirm.input.checked) { confirm.clearError(); status.clear(); } });

  container.append(
    h("section", { class: "recovery-sheet", "aria-labelledby": "recovery-title" },
      h("h1", { id: "recovery-title" }, t("Your recovery code")),
      nickname ? h("p", { class: "recovery-nickname" }, t("Nickname: {nickname}", { nickname })) : null,
      recoveryCodeBlock(code),
      replaced ? h("p", { class: "recovery-replaced", role: "status" }, t("This is your new recovery code. Your old code no longer works.")) : null,
      h("p", {}, t("If you forget your password, this code lets you set a new one and keep your messages.")),
      h("p", { class: "warning" },
        t("Nobody can restore your account for you: not us, not your counsellor. Without your password AND this code, your old messages are gone for ever.")),
      h("p", { class: "no-print" }, t("Write it down on paper or print it, and keep it somewhere safe. Do not send it to anyone.")),
    ),
    h("div", { class: "actions no-print" }, print, copy),
    copied,
    form,
  );
  focusHeading(container);
}
