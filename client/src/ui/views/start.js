// Start page for young people: what this is (two sentences), start, log in; the quick exit
// explained; the way in for counsellors.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

export const path = "/";
export const title = () => t("Online counselling");

// A decorative chat: two bubbles, mirrored in right-to-left layouts by the logical CSS.
function illustration() {
  return h("div", { class: "hero-art", "aria-hidden": "true" },
    h("span", { class: "bubble bubble-in" }),
    h("span", { class: "bubble bubble-out" }),
  );
}

export function render(container) {
  container.append(
    h("section", { class: "card hero", "aria-labelledby": "start-title" },
      illustration(),
      h("h1", { id: "start-title" }, t("Online counselling for young migrants")),
      h("p", { class: "lead" },
        t("Write to trained counsellors of the Youth Migration Services about school, work, residence, family or anything else on your mind.")),
      h("p", {},
        t("It is free and confidential: your messages are encrypted on your phone, and you do not need to give your name.")),
      h("div", { class: "actions" },
        h("a", { class: "button primary", href: "#/register" }, t("Start")),
        h("a", { class: "button", href: "#/login" }, t("Log in")),
        h("a", { class: "button", href: "#/sites" }, t("Find a JMD near you")),
      ),
    ),
    h("p", { class: "notice safety" },
      t("Need to leave quickly? The “Quick exit” button opens a neutral website at once. On a keyboard, press Esc twice.")),
    h("section", { class: "card counsellor", "aria-labelledby": "start-counsellor-title" },
      h("h2", { id: "start-counsellor-title" }, t("For counsellors")),
      h("p", {}, h("a", { class: "button", href: "#/counsellor" }, t("Counsellor login"))),
    ),
  );
}
