// Log in with nickname and password; works on a new phone too: the keys come back from the
// password-wrapped key blob the server keeps.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { loginForm } from "../../account/login-form.js";
import { currentAccount, landingPath } from "../../account/session.js";
import { routeGuard } from "../../account/ui.js";

export const path = "/login";
export const title = () => t("Log in");

// True if someone is logged in (then says so and links on), or if the person moved on to
// another screen while we asked the server: either way the caller draws nothing more.
export async function alreadyLoggedIn(container, heading) {
  const moved = routeGuard();
  const account = await currentAccount().catch(() => null);
  if (moved()) return true;
  if (!account) return false;
  container.append(
    h("h1", {}, heading),
    h("p", { class: "notice" }, t("You are already logged in as {nickname}.", { nickname: account.nickname })),
    h("p", {}, h("a", { class: "button", href: `#${landingPath(account)}` }, t("Continue"))),
  );
  return true;
}

export async function render(container, ctx) {
  if (await alreadyLoggedIn(container, t("Log in"))) return;
  const { form } = loginForm({ navigate: ctx.navigate, titleId: "login-title" });
  container.append(
    h("h1", { id: "login-title" }, t("Log in")),
    form,
    h("ul", { class: "links" },
      h("li", {}, h("a", { href: "#/recover" }, t("Forgot your password?"))),
      h("li", {}, t("No account yet?"), " ", h("a", { href: "#/register" }, t("Create an account"))),
    ),
  );
}
