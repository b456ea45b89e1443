// Forgot the password: the recovery code opens the keys again, then a new password wraps them.
// Messages stay readable because the identity keys do not change.

import { h, clear, focusHeading } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { startRecovery, finishRecovery } from "../../account/flows.js";
import { landingPath } from "../../account/session.js";
import { normaliseNickname, passwordProblems } from "../../account/rules.js";
import { field, passwordField, formStatus, setBusy, showProblems, submitButton } from "../../account/ui.js";
import { describeError } from "../../account/errors.js";
import { passwordHint, strengthMeter } from "../../account/labels.js";

export const path = "/recover";
export const title = () => t("New password with your recovery code");

function codeStep(container, ctx) {
  const status = formStatus();
  const nickname = field({ name: "nickname", label: t("Nickname"), autocomplete: "username", spellcheck: false, autocapitalize: "off", dir: "auto" });
  const code = field({
    name: "recovery-code", label: t("Recovery code"), autocomplete: "off", spellcheck: false, autocapitalize: "characters", dir: "ltr",
    hint: t("28 letters and digits, for example ABCD-EFGH-…. Spaces, dashes and small letters do not matter."),
  });
  code.input.classList.add("code-input");
  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": "recover-title" },
    nickname.root, code.root, status.root,
    h("div", { class: "actions" }, submitButton(t("Continue"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const nick = normaliseNickname(nickname.input.value);
    const ok = showProblems(status, [
      [nickname, nick ? [] : [t("Please enter your nickname.")]],
      [code, code.input.value.trim() ? [] : [t("Please enter your recovery code.")]],
    ]);
    if (!ok) return;
    setBusy(form, true);
    status.progress(t("Checking your recovery code…"));
    try {
      const state = await startRecovery({ nickname: nick, code: code.input.value });
      code.input.value = "";
      passwordStep(container, ctx, state);
    } catch (error) {
      setBusy(form, false);
      const message = describeError(error);
      if (error.code === "bad_recovery_code") {
        code.setError(message);
        code.input.focus();
      }
      status.error(message);
    }
  });
  container.append(
    h("h1", { id: "recover-title" }, t("New password with your recovery code")),
    h("p", {}, t("You got a recovery code when you created your account. With it you can choose a new password and keep your messages.")),
    form,
    h("p", { class: "hint" }, t("Lost the code as well? Then you can create a new account, but your old messages cannot be opened any more.")),
    h("ul", { class: "links" },
      h("li", {}, h("a", { href: "#/login" }, t("Back to log in"))),
    ),
  );
}

function passwordStep(container, ctx, state) {
  clear(container);
  const status = formStatus();
  const password = passwordField({ name: "new-password", label: t("New password"), autocomplete: "new-password", hint: passwordHint() });
  password.root.append(strengthMeter(password.input, () => state.nickname));
  const repeat = passwordField({ name: "new-password-repeat", label: t("Repeat the new password"), autocomplete: "new-password" });
  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": "recover-password-title" },
    // Password managers store the new password under the right nickname.
    h("input", { type: "text", name: "username", autocomplete: "username", value: state.nickname, hidden: true, "aria-hidden": "true", tabindex: "-1" }),
    password.root, repeat.root, status.root,
    h("div", { class: "actions" }, submitButton(t("Save new password"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ok = showProblems(status, [
      [password, passwordProblems(password.input.value, state.nickname)],
      [repeat, repeat.input.value !== password.input.value ? [t("The two passwords are not the same.")] : []],
    ]);
    if (!ok) return;
    setBusy(form, true);
    status.progress(t("Securing your account… This can take a moment on older phones."));
    try {
      const result = await finishRecovery(state, password.input.value);
      password.input.value = "";
      repeat.input.value = "";
      status.info(t("Your new password is saved."));
      ctx.navigate(landingPath(result.account));
    } catch (error) {
      setBusy(form, false);
      status.error(describeError(error));
      if (error.code === "recovery_failed" || error.code === "recovery_expired") {
        form.append(h("p", {}, h("a", { href: "#/recover", onclick: (e) => { e.preventDefault(); clear(container); codeStep(container, ctx); focusHeading(container); } }, t("Start again"))));
      }
    }
  });
  container.append(
    h("h1", { id: "recover-password-title" }, t("Choose a new password")),
    h("p", { class: "notice" }, t("Your recovery code is right. Your keys are open on this phone.")),
    form,
  );
  focusHeading(container);
}

export function render(container, ctx) {
  codeStep(container, ctx);
}
