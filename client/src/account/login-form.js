// The login form, shared by /login (young people) and /counsellor (JMD staff, with the
// two-factor code field from the start). The password is turned into keys here; if the
// server asks for a two-factor code, the field appears and the same keys are sent again.

import { h } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { login } from "./flows.js";
import { landingPath } from "./session.js";
import { normaliseNickname } from "./rules.js";
import { field, passwordField, formStatus, setBusy, showProblems, submitButton } from "./ui.js";
import { describeError } from "./errors.js";

function totpField() {
  const f = field({
    name: "totp", label: t("Code from your authenticator app"), inputmode: "numeric", autocomplete: "one-time-code",
    hint: t("6 digits. A new code appears every 30 seconds."), maxlength: 6, pattern: "[0-9]*", dir: "ltr",
    spellcheck: false, required: true,
  });
  f.root.classList.add("totp-field");
  return f;
}

export function totpProblems(value) {
  return /^\d{6}$/.test(value) ? [] : [t("Please enter the 6 digits from your authenticator app.")];
}

export function normaliseTotp(value) {
  // Accept "123 456", and digits typed on Arabic or Persian keyboards.
  return String(value || "")
    .replace(/[\u0660-\u0669]/g, (d) => String(d.charCodeAt(0) - 0x0660))
    .replace(/[\u06F0-\u06F9]/g, (d) => String(d.charCodeAt(0) - 0x06F0))
    .replace(/\s+/g, "");
}

export function loginForm({ navigate, counsellor = false, titleId }) {
  const status = formStatus();
  const nickname = field({
    name: "nickname", label: t("Nickname"), autocomplete: "username", spellcheck: false, autocapitalize: "off", dir: "auto",
  });
  const password = passwordField({ name: "password", label: t("Password"), autocomplete: "current-password" });
  const totp = totpField();
  let totpShown = counsellor;
  totp.root.hidden = !totpShown;
  const submit = submitButton(t("Log in"));
  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": titleId },
    nickname.root, password.root, totp.root, status.root,
    h("div", { class: "actions" }, submit),
  );

  let pending = null;
  // Changing the nickname or password forgets the keys derived for the earlier values.
  for (const input of [nickname.input, password.input]) input.addEventListener("input", () => { pending = null; });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const nick = normaliseNickname(nickname.input.value);
    const code = normaliseTotp(totp.input.value);
    const checks = [
      [nickname, nick ? [] : [t("Please enter your nickname.")]],
      [password, password.input.value ? [] : [t("Please enter your password.")]],
    ];
    if (totpShown && (counsellor || pending)) checks.push([totp, totpProblems(code)]);
    if (!showProblems(status, checks)) return;
    setBusy(form, true);
    status.progress(pending ? t("Checking the code…") : t("Opening your keys… This can take a moment on older phones."));
    try {
      const result = await login({ nickname: nick, password: password.input.value, totpCode: totpShown ? code : null, pending });
      password.input.value = "";
      pending = null;
      status.info(t("You are logged in."));
      navigate(landingPath(result.account));
    } catch (error) {
      setBusy(form, false);
      if (error.pending) pending = error.pending;
      if (error.code === "totp_required" && !totpShown) {
        totpShown = true;
        totp.root.hidden = false;
        status.info(t("Please also enter the code from your authenticator app."));
        totp.input.focus();
        return;
      }
      const message = describeError(error);
      if (error.code === "totp_required" || error.code === "totp_invalid") {
        totp.setError(message);
        totp.input.value = "";
        totp.input.focus();
      } else {
        nickname.clearError();
        password.clearError();
        password.input.focus();
      }
      status.error(message);
    }
  });
  return { form, nickname, password, totp };
}
