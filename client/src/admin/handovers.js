// Admin section "Handovers" (#/admin/handovers, issue #6): which conversations moved when, from
// which team to which, to a colleague or back to the queue — metadata only. Site leads see their
// sites (GET /api/sites/{id}/handovers), admins every site. Young people are never named.

import { h, clear } from "../ui/dom.js";
import { t, tn } from "../i18n/i18n.js";
import { api, segment } from "../net/api.js";
import { requireAccount, newId } from "../chat/ui.js";
import { longTime } from "../chat/format.js";
import { addSection, ADMIN_ROLES } from "./sections.js";

export const path = "/admin/handovers";
export const title = () => t("Handovers");

addSection({
  path, label: title, order: 55, roles: ADMIN_ROLES,
  description: () => t("Conversations handed over to other teams or colleagues (no content)."),
});

function actionText(item) {
  switch (item.action) {
    case "conversation_handover_proposed":
      return t("Move to {site} proposed", { site: item.to_site_name || "?" });
    case "conversation_handed_over":
      return item.history
        ? t("Moved to {site}, with the earlier messages", { site: item.to_site_name || "?" })
        : t("Moved to {site}, without the earlier messages", { site: item.to_site_name || "?" });
    case "conversation_handover_declined":
      return t("Move to {site} declined by the young person", { site: item.to_site_name || "?" });
    case "conversation_reassigned":
      if (!item.to_name) return t("Back to the team's queue");
      return item.by_lead
        ? t("Reassigned to {name} by the team lead", { name: item.to_name })
        : t("Handed over to {name}", { name: item.to_name });
    default:
      return item.action;
  }
}

function byText(item) {
  if (item.actor_name) return item.actor_name;
  return item.actor_id ? t("The young person") : t("System");
}

export async function render(container) {
  const heading = t("Handovers");
  const account = await requireAccount(container, heading);
  if (!account) return;
  if (!ADMIN_ROLES.includes(account.role)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for site leads and administrators.")));
    return;
  }
  const site = h("select", { id: newId("hs") });
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const list = h("div", {});
  container.append(h("section", { class: "admin-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading),
    h("div", { class: "field" }, h("label", { for: site.id }, t("Site")), site), status, list));
  let sites = [];
  try {
    sites = (await api.get("/api/team/sites")).sites || [];
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  for (const s of sites) site.append(h("option", { value: s.id }, s.name));
  const load = async () => {
    clear(list);
    if (!site.value) { status.textContent = t("No site."); return; }
    let data;
    try {
      data = await api.get(`/api/sites/${segment(site.value)}/handovers`);
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    const items = data.items || [];
    status.textContent = tn("{n} entry", "{n} entries", items.length);
    if (!items.length) return;
    // Scrolls sideways on a phone: focusable, so keyboard users can scroll it too.
    list.append(h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": heading }, h("table", { class: "admin-table handover-log" },
      h("caption", { class: "visually-hidden" }, heading),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("Time")), h("th", { scope: "col" }, t("What")),
        h("th", { scope: "col" }, t("By")), h("th", { scope: "col" }, t("From")),
        h("th", { scope: "col" }, t("Conversation")))),
      h("tbody", {}, ...items.map((item) => h("tr", { dataset: { action: item.action } },
        h("td", {}, h("time", { datetime: item.at }, longTime(item.at))),
        h("td", {}, actionText(item)),
        h("td", {}, byText(item)),
        h("td", {}, item.site_name || ""),
        h("td", {}, h("code", {}, String(item.conversation_id).slice(0, 8)))))))));
  };
  site.addEventListener("change", load);
  await load();
}
