// Invitation for counsellors: see the site and role, choose nickname, display name and
// password (keys are made on this device), set up the authenticator app, keep the recovery code.

import { h, clear, focusHeading } from "../dom.js";
import { t, locale } from "../../i18n/i18n.js";
import { acceptInvitation, confirmTotp, fetchInvitation } from "../../account/flows.js";
import { landingPath } from "../../account/session.js";
import { NICKNAME_MAX, nicknameProblems, normaliseNickname, passwordProblems } from "../../account/rules.js";
import { field, passwordField, selectField, formStatus, setBusy, showProblems, submitButton, copyText, routeGuard } from "../../account/ui.js";
import { showRecoveryCode } from "../../account/recovery-sheet.js";
import { describeError } from "../../account/errors.js";
import { normaliseTotp, totpProblems } from "../../account/login-form.js";
import { qrSvg } from "../../account/qr.js";
import { localeOptions, nicknameHint, passwordHint, roleName, strengthMeter } from "../../account/labels.js";

export const path = "/invite/:token";
export const title = () => t("Invitation");

function formatDate(value) {
  try {
    return new Intl.DateTimeFormat(locale().replace("_", "-"), { dateStyle: "long", timeStyle: "short" }).format(new Date(value));
  } catch {
    return String(value);
  }
}

function acceptForm(container, ctx, token, invitation) {
  const status = formStatus();
  // An invitation may come with the nickname fixed (administrators) and a suggested display name.
  const pinned = typeof invitation.nickname === "string" && invitation.nickname ? invitation.nickname : null;
  const nickname = field({
    name: "nickname", label: t("Nickname (for logging in)"),
    hint: pinned ? t("This nickname was chosen for you in the invitation.") : nicknameHint(),
    autocomplete: "username", maxlength: NICKNAME_MAX * 2, spellcheck: false, autocapitalize: "off", dir: "auto",
    value: pinned || "",
  });
  if (pinned) nickname.input.readOnly = true;
  const displayName = field({
    name: "display-name", label: t("Display name"), hint: t("Young people see this name, for example your first name."),
    autocomplete: "nickname", maxlength: 64, dir: "auto", value: invitation.display_name || "",
  });
  const password = passwordField({ name: "password", label: t("Password"), autocomplete: "new-password", hint: passwordHint() });
  password.root.append(strengthMeter(password.input, () => nickname.input.value));
  const repeat = passwordField({ name: "password-repeat", label: t("Repeat the password"), autocomplete: "new-password" });
  const language = selectField({ name: "locale", label: t("Language of the app"), options: localeOptions(), value: locale() });
  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": "invite-title" },
    nickname.root, displayName.root, password.root, repeat.root, language.root, status.root,
    h("div", { class: "actions" }, submitButton(t("Accept invitation"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const nick = normaliseNickname(nickname.input.value);
    const display = displayName.input.value.normalize("NFC").trim();
    const ok = showProblems(status, [
      [nickname, nicknameProblems(nick)],
      [displayName, display ? [] : [t("Please enter a display name.")]],
      [password, passwordProblems(password.input.value, nick)],
      [repeat, repeat.input.value !== password.input.value ? [t("The two passwords are not the same.")] : []],
    ]);
    if (!ok) return;
    setBusy(form, true);
    status.progress(t("Securing your account… This can take a moment on older phones."));
    try {
      const result = await acceptInvitation(token, { nickname: nick, displayName: display, password: password.input.value, locale: language.input.value });
      password.input.value = "";
      repeat.input.value = "";
      await totpStep(container, ctx, result);
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
  const expires = invitation.expires_at ? formatDate(invitation.expires_at) : null;
  container.append(
    h("h1", { id: "invite-title" }, t("Invitation to jmdchat")),
    h("dl", { class: "details" },
      invitation.site ? h("dt", {}, t("Site")) : null,
      invitation.site ? h("dd", { dir: "auto" }, invitation.site.name) : null,
      h("dt", {}, t("Role")), h("dd", {}, roleName(invitation.role)),
      expires ? h("dt", {}, t("Valid until")) : null, expires ? h("dd", {}, expires) : null,
    ),
    h("p", {}, t("Your password never leaves this device. It protects the keys that let you read conversations, so nobody can reset it for you.")),
    form,
  );
}

async function totpStep(container, ctx, result) {
  clear(container);
  const status = formStatus();
  const code = field({
    name: "totp", label: t("Code from your authenticator app"), inputmode: "numeric", autocomplete: "one-time-code",
    hint: t("6 digits. A new code appears every 30 seconds."), maxlength: 6, pattern: "[0-9]*", dir: "ltr", spellcheck: false,
  });
  code.root.classList.add("totp-field");
  const form = h("form", { class: "account-form", novalidate: true, "aria-labelledby": "totp-confirm-title" },
    h("h2", { id: "totp-confirm-title" }, t("Enter the first code")),
    code.root, status.root,
    h("div", { class: "actions" }, submitButton(t("Turn on two-factor login"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = normaliseTotp(code.input.value);
    if (!showProblems(status, [[code, totpProblems(value)]])) return;
    setBusy(form, true);
    status.progress(t("Checking the code…"));
    try {
      const confirmed = await confirmTotp(value);
      showRecoveryCode(container, {
        code: result.recoveryCode,
        nickname: confirmed.account.nickname,
        onContinue: () => ctx.navigate(landingPath(confirmed.account)),
      });
    } catch (error) {
      setBusy(form, false);
      const message = describeError(error);
      code.setError(message);
      code.input.value = "";
      code.input.focus();
      status.error(message);
    }
  });

  const secretText = String(result.totpSecret || "").replace(/(.{4})/g, "$1 ").trim();
  const copied = h("p", { class: "copy-status", role: "status", "aria-live": "polite" });
  const copy = h("button", { type: "button", class: "button" }, t("Copy the key"));
  copy.addEventListener("click", async () => {
    copied.textContent = (await copyText(result.totpSecret)) ? t("The key was copied.") : t("Copying did not work. Please type the key.");
  });
  let qr = null;
  try {
    qr = await qrSvg(result.otpauthUri, { label: t("QR code for your authenticator app") });
  } catch (error) {
    console.error(error);
  }
  container.append(
    h("h1", { id: "totp-title" }, t("Set up two-factor login")),
    h("p", {}, t("Counsellors log in with their password and a code from an authenticator app (for example FreeOTP, Aegis or Google Authenticator). Scan this QR code with the app, or type the key into it.")),
    h("p", { class: "warning" }, t("This key is shown only once. Do not take a screenshot and do not send it to anyone.")),
    qr ? h("figure", { class: "qr-figure" }, qr) : null,
    h("p", {}, t("Key:")),
    h("p", { class: "totp-secret", dir: "ltr", translate: "no", "data-testid": "totp-secret" }, secretText),
    h("div", { class: "actions" }, copy,
      h("a", { class: "button", href: result.otpauthUri }, t("Open in authenticator app"))),
    copied,
    h("details", {}, h("summary", {}, t("Show the setup link")), h("p", { class: "otpauth-uri", dir: "ltr", "data-testid": "otpauth-uri" }, result.otpauthUri)),
    form,
  );
  focusHeading(container);
}

export async function render(container, ctx) {
  const token = ctx.params.token;
  const moved = routeGuard();
  let invitation;
  try {
    invitation = await fetchInvitation(token);
  } catch (error) {
    if (moved()) return;
    container.append(
      h("h1", {}, t("Invitation")),
      h("p", { class: "error-box", role: "alert" }, describeError(error)),
      h("p", {}, t("Please ask your site lead for a new invitation.")),
      h("p", {}, h("a", { href: "#/counsellor" }, t("Counsellor login"))),
    );
    return;
  }
  if (moved()) return;
  acceptForm(container, ctx, token, invitation);
}
