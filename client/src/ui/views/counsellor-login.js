// Login for JMD staff: the same login, with the two-factor code field shown from the start.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { loginForm } from "../../account/login-form.js";
import { alreadyLoggedIn } from "./login.js";

export const path = "/counsellor";
export const title = () => t("Counsellor login");

export async function render(container, ctx) {
  if (await alreadyLoggedIn(container, t("Counsellor login"))) return;
  const { form } = loginForm({ navigate: ctx.navigate, counsellor: true, titleId: "counsellor-title" });
  container.append(
    h("h1", { id: "counsellor-title" }, t("Counsellor login")),
    h("p", {}, t("For counsellors of the Youth Migration Services. You received an invitation from your site lead; log in with your nickname, your password and the code from your authenticator app.")),
    form,
    h("ul", { class: "links" },
      h("li", {}, h("a", { href: "#/recover" }, t("Forgot your password?"))),
      h("li", {}, h("a", { href: "#/login" }, t("Not a counsellor? Log in here."))),
    ),
  );
}
