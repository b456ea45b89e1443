// About page: who runs this, privacy in one paragraph, credits (GeoNames, CC BY 4.0).

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

export const path = "/about";
export const title = () => t("About this service");

export function render(container) {
  container.append(
    h("div", { class: "card" },
      h("h1", {}, t("About this service")),
      h("p", {}, t("jmdchat is run by the Youth Migration Services (JMD) for young people aged 12 to 27.")),
      h("p", {}, t("Only you and your counsellors can read your messages. The server stores them encrypted and cannot read them.")),
    ),
    h("section", { class: "card", "aria-labelledby": "credits-title" },
      h("h2", { id: "credits-title" }, t("Credits")),
      h("p", {}, t("Postcode data: GeoNames (geonames.org), licensed under CC BY 4.0.")),
      // The attribution CC BY asks for: the source and the licence, as links (names, not prose).
      h("ul", { class: "link-list" },
        h("li", {}, h("a", { href: "https://www.geonames.org/", translate: "no" }, "GeoNames")),
        h("li", {}, h("a", { href: "https://creativecommons.org/licenses/by/4.0/", rel: "license", translate: "no" }, "CC BY 4.0")),
      ),
    ),
  );
}
