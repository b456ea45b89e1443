// Entries that exist on the start page before their full screens are built.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

export function placeholder(path, heading) {
  return {
    path,
    title: heading,
    render(container) {
      container.append(
        h("div", { class: "card" },
          h("h1", {}, heading()),
          h("p", {}, t("This part is being built. Please come back soon.")),
          h("p", {}, h("a", { class: "button", href: "#/" }, t("Back to the start page"))),
        ),
      );
    },
  };
}

// The account screens (/register, /login, /counsellor, /recover, /account, /invite/:token)
// have their own views now; later screens are listed here until they are built.
export const views = [];
