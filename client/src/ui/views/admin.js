// The admin hub (#/admin): links to every admin section the signed-in role may use
// (site leads: their sites' team, statistics, audit trail; admins: everything).

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { requireAccount } from "../../chat/ui.js";
import { ADMIN_ROLES, sectionsFor } from "../../admin/sections.js";

export const path = "/admin";
export const title = () => t("Administration");

export async function render(container) {
  const heading = t("Administration");
  const account = await requireAccount(container, heading, { counsellor: false });
  if (!account) return;
  if (!ADMIN_ROLES.includes(account.role)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for site leads and administrators.")));
    return;
  }
  const items = sectionsFor(account).map((s) =>
    h("li", { class: "admin-section" },
      h("a", { href: `#${s.path}` }, s.label()),
      h("p", {}, s.description())));
  container.append(h("section", { class: "admin-page" },
    h("h1", {}, heading),
    items.length ? h("ul", { class: "admin-sections" }, ...items) : h("p", {}, t("Nothing to manage here yet."))));
}
