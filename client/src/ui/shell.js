// The frame around every view: language picker, quick exit, footer.

import { h, clear } from "./dom.js";
import { t } from "../i18n/i18n.js";

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

// Quick exit: leave at once for a neutral page, replacing this history entry so "back"
// does not return here. Also bound to pressing Escape twice quickly.
export function setupQuickExit(boot) {
  const button = document.getElementById("quick-exit");
  const leave = () => {
    document.getElementById("main").replaceChildren();
    document.title = "";
    location.replace(boot.quickExitUrl);
  };
  button.addEventListener("click", leave);
  let lastEscape = 0;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const now = Date.now();
    if (now - lastEscape < 600) leave();
    lastEscape = now;
  });
}

export function renderFooter() {
  const footer = document.getElementById("footer");
  clear(footer);
  footer.append(
    h("nav", { "aria-label": t("More") },
      h("a", { href: "#/about" }, t("About this service")),
      h("a", { href: "#/counsellor" }, t("For counsellors")),
    ),
  );
}
