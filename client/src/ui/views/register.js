// Registration for young people: nickname, password (checked here, never sent), optional
// language and age group. Keys are made on this phone; then the recovery code is shown once.

import { h } from "../dom.js";
import { t, locale } from "../../i18n/i18n.js";
import { register } from "../../account/flows.js";
import { landingPath } from "../../account/session.js";
import { alreadyLoggedIn } from "./login.js";
import { AGE_GROUPS, NICKNAME_MAX, nicknameProblems, normaliseNickname, passwordProblems } from "../../account/rules.js";
import { localeOptions, nicknameHint, passwordHint, strengthMeter } from "../../account/labels.js";
import { field, passwordField, selectField, formStatus, setBusy, showProblems, submitButton } from "../../account/ui.js";
import { showRecoveryCode } from "../../account/recovery-sheet.js";
import { describeError } from "../../account/errors.js";

export const path = "/register";
export const title = () => t("Create your account");

export async function render(container, ctx) {
  if (await alreadyLoggedIn(container, t("Create your account"))) return;

  const status = formStatus();
  const nickname = field({
    name: "nickname", label: t("Nickname"), hint: nicknameHint(), autocomplete: "username",
    maxlength: NICKNAME_MAX * 2, spellcheck: false, autocapitalize: "off", dir: "auto",
  });
  const password = passwordField({ name: "password", label: t("Password"), autocomplete: "new-password", hint: passwordHint() });
  const meter = strengthMeter(password.input, () => nickname.input.value);
  password.root.append(meter);
  const repeat = passwordField({ name: "password-repeat", label: t("Repeat the password"), autocomplete: "new-password" });
  const language = selectField({
    name: "locale", label: t("Preferred language (optional)"), options: localeOptions(), value: locale(),
    hint: t("The language your counsellor should write in, if possible."),
  });
  const age = selectField({
    name: "age-group", label: t("Age group (optional)"),
    options: [{ value: "", label: t("I prefer not to say") }, ...AGE_GROUPS.map((g) => ({ value: g, label: t("{range} years", { range: g.replace("-", "–") }) }))],
    hint: t("This helps us find the right counsellor. You do not have to say."),
  });

  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": "register-title" },
    nickname.root, password.root, repeat.root, language.root, age.root,
    h("p", { class: "hint" }, t("Your password never leaves this phone. It encrypts your messages, so nobody can reset it for you.")),
    status.root,
    h("div", { class: "actions" }, submitButton(t("Create account"))),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const nick = normaliseNickname(nickname.input.value);
    const repeatProblems = repeat.input.value !== password.input.value ? [t("The two passwords are not the same.")] : [];
    const ok = showProblems(status, [
      [nickname, nicknameProblems(nick)],
      [password, passwordProblems(password.input.value, nick)],
      [repeat, repeatProblems],
    ]);
    if (!ok) return;
    setBusy(form, true);
    status.progress(t("Securing your account… This can take a moment on older phones."));
    try {
      const result = await register({
        nickname: nick, password: password.input.value, locale: language.input.value, ageGroup: age.input.value || null,
      });
      password.input.value = "";
      repeat.input.value = "";
      showRecoveryCode(container, {
        code: result.recoveryCode,
        nickname: result.account.nickname,
        onContinue: () => ctx.navigate(landingPath(result.account)),
      });
    } catch (error) {
      setBusy(form, false);
      const message = describeError(error);
      if (error.code === "nickname_taken" || error.code === "nickname_invalid" || error.code === "nickname_reserved") {
        nickname.setError(message);
        nickname.input.focus();
      }
      status.error(message);
    }
  });

  container.append(
    h("h1", { id: "register-title" }, t("Create your account")),
    h("p", {}, t("You only need a nickname and a password. No name, no phone number, no e-mail address.")),
    form,
    h("p", {}, t("Already have an account?"), " ", h("a", { href: "#/login" }, t("Log in"))),
  );
}
