import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

export const path = null;
export const title = () => t("Page not found");

export function render(container) {
  container.append(
    h("div", { class: "card" },
      h("h1", {}, t("Page not found")),
      h("p", {}, h("a", { class: "button", href: "#/" }, t("Back to the start page"))),
    ),
  );
}
