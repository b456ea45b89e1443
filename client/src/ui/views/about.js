// About page: who runs this, privacy in one paragraph, credits.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

export const path = "/about";
export const title = () => t("About this service");

export function render(container) {
  container.append(
    h("h1", {}, t("About this service")),
    h("p", {}, t("jmdchat is run by the Youth Migration Services (JMD) for young people aged 12 to 27.")),
    h("p", {}, t("Only you and your counsellors can read your messages. The server stores them encrypted and cannot read them.")),
    h("h2", {}, t("Credits")),
    h("p", {}, t("Postcode data: GeoNames (geonames.org), licensed under CC BY 4.0.")),
  );
}
