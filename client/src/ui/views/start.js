// Start page for young people: what this is, start, log in.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

export const path = "/";
export const title = () => t("Online counselling");

export function render(container) {
  container.append(
    h("section", { class: "hero", "aria-labelledby": "start-title" },
      h("h1", { id: "start-title" }, t("Online counselling for young migrants")),
      h("p", { class: "lead" },
        t("Write to trained counsellors of the Youth Migration Services about school, work, residence, family or anything else on your mind.")),
      h("p", {},
        t("It is free and confidential: your messages are encrypted on your phone, and you do not need to give your name.")),
      h("div", { class: "actions" },
        h("a", { class: "button primary", href: "#/register" }, t("Start")),
        h("a", { class: "button", href: "#/login" }, t("Log in")),
      ),
    ),
  );
}
