// The frame around every view: skip link, language picker, quick exit, footer.

import { h, clear } from "./dom.js";
import { t } from "../i18n/i18n.js";
import { cachedAccount, onSessionChange } from "../account/session.js";
import { ADMIN_ROLES } from "../admin/sections.js";

// The skip link points at "#main"; move focus there without touching the hash (the router
// owns "#/..." hashes) so it works the same on every view.
export function setupSkipLink() {
  const link = document.querySelector(".skip-link");
  const main = document.getElementById("main");
  if (!link || !main) return;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
    main.scrollIntoView();
  });
}

export function setupLanguagePicker(boot) {
  const picker = document.getElementById("language-picker");
  clear(picker);
  for (const loc of boot.locales) {
    // Each language is named in itself, and marked up with its own lang and dir.
    picker.append(h("option", { value: loc.code, lang: loc.tag, dir: loc.dir, selected: loc.code === boot.locale }, loc.name));
  }
  picker.addEventListener("change", () => {
    const maxAge = 60 * 60 * 24 * 365;
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${boot.localeCookie}=${encodeURIComponent(picker.value)}; Path=/; Max-Age=${maxAge}; SameSite=Strict${secure}`;
    location.reload();
  });
}

// Quick exit lives in its own module (loaded separately by index.html, see quick-exit.js).
export { setupQuickExit } from "./quick-exit.js";

export function renderFooter() {
  const footer = document.getElementById("footer");
  clear(footer);
  // Site leads and admins: a link to the admin area (#/admin), shown once we know who is
  // logged in (the server authorizes every admin request again).
  const adminLink = h("a", { href: "#/admin", class: "admin-link", hidden: true }, t("Administration"));
  footer.append(
    h("nav", { "aria-label": t("More") },
      h("a", { href: "#/about" }, t("About this service")),
      h("a", { href: "#/counsellor" }, t("For counsellors")),
      adminLink,
    ),
  );
  const showAdmin = (account) => { adminLink.hidden = !(account && ADMIN_ROLES.includes(account.role)); };
  showAdmin(cachedAccount());
  onSessionChange(showAdmin);
}
