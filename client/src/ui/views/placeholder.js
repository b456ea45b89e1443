// Entries that exist on the start page before their full screens are built.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

function placeholder(path, heading) {
  return {
    path,
    title: heading,
    render(container) {
      container.append(
        h("h1", {}, heading()),
        h("p", {}, t("This part is being built. Please come back soon.")),
        h("p", {}, h("a", { href: "#/" }, t("Back to the start page"))),
      );
    },
  };
}

export const views = [
  placeholder("/register", () => t("Start")),
  placeholder("/login", () => t("Log in")),
  placeholder("/counsellor", () => t("Counsellor login")),
];
