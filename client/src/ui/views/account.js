// My account: nickname, role, key fingerprint, change password, a new recovery code, log out,
// delete the account.

import { h, clear, focusHeading } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { changePassword, deleteAccount, localFingerprint, renewRecoveryCode } from "../../account/flows.js";
import { showRecoveryCode } from "../../account/recovery-sheet.js";
import { currentAccount, logout } from "../../account/session.js";
import { passwordProblems } from "../../account/rules.js";
import { fingerprintBlock, passwordField, formStatus, setBusy, showProblems, submitButton, routeGuard } from "../../account/ui.js";
import { describeError } from "../../account/errors.js";
import { passwordHint, roleName, strengthMeter } from "../../account/labels.js";

export const path = "/account";
export const title = () => t("My account");

function detailsList(account) {
  const rows = [
    [t("Nickname"), h("span", { dir: "auto" }, account.nickname)],
    [t("Role"), roleName(account.role)],
  ];
  if (account.display_name) rows.push([t("Display name"), h("span", { dir: "auto" }, account.display_name)]);
  if (account.sites && account.sites.length) {
    rows.push([t("Sites"), account.sites.map((s) => s.name).join(", ")]);
  }
  if (account.role !== "young_person") {
    rows.push([t("Two-factor login"), account.totp_enabled ? t("On") : t("Off")]);
  }
  return h("dl", { class: "details" }, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function fingerprintSection(account) {
  const section = h("section", { class: "card account-section", "aria-labelledby": "fingerprint-title" },
    h("h2", { id: "fingerprint-title" }, t("Your key fingerprint")));
  const local = await localFingerprint(account);
  if (!local) {
    section.append(h("p", { class: "warning" }, t("Your keys are not on this device. Please log out and log in again.")));
    return section;
  }
  section.append(
    h("p", {}, t("These numbers belong to the key that encrypts your messages. If you want, compare them with your counsellor: if they see the same numbers, nobody is in between.")),
    fingerprintBlock(local.fingerprint, "fingerprint-title"),
  );
  if (!local.matchesServer) {
    section.append(h("p", { class: "warning", role: "alert" }, t("Warning: the server shows different keys for your account. Please talk to your counsellor in person.")));
  }
  return section;
}

function changePasswordSection(account) {
  const status = formStatus();
  const current = passwordField({ name: "current-password", label: t("Current password"), autocomplete: "current-password" });
  const next = passwordField({ name: "new-password", label: t("New password"), autocomplete: "new-password", hint: passwordHint() });
  next.root.append(strengthMeter(next.input, () => account.nickname));
  const repeat = passwordField({ name: "new-password-repeat", label: t("Repeat the new password"), autocomplete: "new-password" });
  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": "password-title" },
    h("input", { type: "text", name: "username", autocomplete: "username", value: account.nickname, hidden: true, "aria-hidden": "true", tabindex: "-1" }),
    current.root, next.root, repeat.root, status.root,
    h("div", { class: "actions" }, submitButton(t("Change password"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ok = showProblems(status, [
      [current, current.input.value ? [] : [t("Please enter your current password.")]],
      [next, passwordProblems(next.input.value, account.nickname)],
      [repeat, repeat.input.value !== next.input.value ? [t("The two passwords are not the same.")] : []],
    ]);
    if (!ok) return;
    setBusy(form, true);
    status.progress(t("Securing your account… This can take a moment on older phones."));
    try {
      await changePassword({ currentPassword: current.input.value, newPassword: next.input.value });
      for (const f of [current, next, repeat]) f.input.value = "";
      setBusy(form, false);
      status.info(t("Your password has been changed. On other devices you need to log in again."));
    } catch (error) {
      setBusy(form, false);
      const message = describeError(error);
      if (error.code === "wrong_password" || error.code === "login_failed") {
        current.setError(message);
        current.input.focus();
      }
      status.error(message);
    }
  });
  return h("section", { class: "card account-section", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, t("Change password")),
    h("p", {}, t("Your messages stay readable: the same keys are locked with the new password.")),
    form,
  );
}

// A new recovery code (the old one was lost or never printed): the current password opens the
// keys on this device, a fresh code wraps them again, the sheet is shown once.
function recoverySection(container, ctx, account) {
  const status = formStatus();
  const current = passwordField({ name: "renew-password", label: t("Your password, to confirm"), autocomplete: "current-password" });
  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": "renew-title", "data-form": "renew-recovery" },
    h("input", { type: "text", name: "username", autocomplete: "username", value: account.nickname, hidden: true, "aria-hidden": "true", tabindex: "-1" }),
    current.root, status.root,
    h("div", { class: "actions" }, submitButton(t("Make a new recovery code"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!showProblems(status, [[current, current.input.value ? [] : [t("Please enter your password.")]]])) return;
    setBusy(form, true);
    status.progress(t("Securing your account… This can take a moment on older phones."));
    try {
      const { recoveryCode, nickname } = await renewRecoveryCode({ currentPassword: current.input.value });
      current.input.value = "";
      showRecoveryCode(container, {
        code: recoveryCode,
        nickname,
        replaced: true,
        onContinue: () => { clear(container); render(container, ctx); },
      });
    } catch (error) {
      setBusy(form, false);
      const message = describeError(error);
      if (error.code === "wrong_password" || error.code === "login_failed") {
        current.setError(message);
        current.input.focus();
      }
      status.error(message);
    }
  });
  return h("section", { class: "card account-section", "aria-labelledby": "renew-title" },
    h("h2", { id: "renew-title" }, t("Make a new recovery code")),
    h("p", {}, t("Lost your recovery code, or never wrote it down? Make a new one. Your old code stops working at once.")),
    form,
  );
}

function deleteSection(container, ctx) {
  const status = formStatus();
  const password = passwordField({ name: "delete-password", label: t("Your password, to confirm"), autocomplete: "current-password" });
  const submit = h("button", { type: "submit", class: "button danger" }, t("Delete my account for ever"));
  const form = h("form", { id: "delete-form", class: "account-form", novalidate: true, "aria-labelledby": "delete-title", hidden: true },
    h("p", {}, t("This deletes at once and for ever:")),
    h("ul", {},
      h("li", {}, t("your nickname and your password data,")),
      h("li", {}, t("your keys, on the server and on this device,")),
      h("li", {}, t("all your conversations and messages.")),
    ),
    h("p", {}, t("Nobody can undo this, not even us. Your counsellor will only see that the conversation has ended.")),
    password.root, status.root,
    h("div", { class: "actions" }, submit),
  );
  const open = h("button", { type: "button", class: "button danger-outline", "aria-expanded": "false", "aria-controls": "delete-form", "data-action": "delete-open" }, t("Delete my account"));
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", form.hidden ? "false" : "true");
    if (!form.hidden) password.input.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!showProblems(status, [[password, password.input.value ? [] : [t("Please enter your password.")]]])) return;
    setBusy(form, true);
    status.progress(t("Deleting your account…"));
    try {
      await deleteAccount(password.input.value);
      clear(container);
      container.append(
        h("h1", { "data-state": "deleted" }, t("Your account has been deleted")),
        h("p", { role: "status" }, t("Everything that belonged to your account has been deleted. Take care!")),
        h("p", {}, h("a", { class: "button", href: "#/" }, t("Back to the start page"))),
      );
      focusHeading(container);
    } catch (error) {
      setBusy(form, false);
      const message = describeError(error);
      password.setError(message);
      password.input.focus();
      status.error(message);
    }
  });
  return h("section", { class: "card account-section danger-zone", "aria-labelledby": "delete-title" },
    h("h2", { id: "delete-title" }, t("Delete my account")),
    h("p", {}, t("You can delete your account at any time.")),
    open,
    form,
  );
}

export async function render(container, ctx) {
  const moved = routeGuard();
  let account;
  try {
    account = await currentAccount({ refresh: true });
  } catch (error) {
    if (moved()) return;
    container.append(h("h1", {}, t("My account")), h("p", { role: "alert", class: "error-box" }, describeError(error)));
    return;
  }
  if (moved()) return;
  if (!account) {
    ctx.navigate("/login");
    return;
  }
  const logoutButton = h("button", { type: "button", class: "button", "data-action": "logout" }, t("Log out"));
  logoutButton.addEventListener("click", async () => {
    logoutButton.disabled = true;
    await logout();
    ctx.navigate("/");
  });
  const fingerprint = await fingerprintSection(account);
  if (moved()) return;
  container.append(
    h("h1", {}, t("My account")),
    detailsList(account),
    h("div", { class: "actions" }, logoutButton),
    fingerprint,
    changePasswordSection(account),
    recoverySection(container, ctx, account),
    deleteSection(container, ctx),
  );
}
