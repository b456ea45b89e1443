// Admin section "Audit trail" (#/admin/audit): who did what and when, metadata only, filtered
// and paged. Site leads see their sites' events, admins every event. Staff are named by their
// display name; young people never by their nickname.

import { h, clear } from "../ui/dom.js";
import { t, tn } from "../i18n/i18n.js";
import { api } from "../net/api.js";
import { requireAccount, newId } from "../chat/ui.js";
import { addSection, ADMIN_ROLES } from "./sections.js";
import { uiTag } from "../chat/format.js";

export const path = "/admin/audit";
export const title = () => t("Audit trail");

addSection({
  path, label: title, order: 60, roles: ADMIN_ROLES,
  description: () => t("Who changed what and when (no content, no young people's names)."),
});

const ACTIONS = {
  invitation_created: () => t("Invitation created"),
  invitation_accepted: () => t("Invitation accepted"),
  totp_enabled: () => t("Two-factor login set up"),
  account_deleted: () => t("Account deleted"),
  certificate_issued: () => t("Key certificate issued"),
  site_key_created: () => t("New site key"),
  site_key_sealed: () => t("Site key handed to a counsellor"),
  conversation_marked_urgent: () => t("Conversation marked urgent"),
  conversation_urgent_removed: () => t("Urgent mark removed"),
  site_created: () => t("Site created"),
  site_updated: () => t("Site changed"),
  sites_imported: () => t("Sites imported"),
  topic_updated: () => t("Topic changed"),
  retention_changed: () => t("Retention settings changed"),
};

const actionText = (code) => (ACTIONS[code] ? ACTIONS[code]() : code);

function actorText(actor) {
  if (actor.kind === "staff") return actor.name || t("Staff member");
  if (actor.kind === "system") return t("System");
  return t("A young person");
}

export async function render(container) {
  const heading = t("Audit trail");
  const account = await requireAccount(container, heading);
  if (!account) return;
  if (!ADMIN_ROLES.includes(account.role)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for site leads and administrators.")));
    return;
  }
  const action = h("select", { id: newId("aa") }, h("option", { value: "" }, t("All actions")));
  const site = h("select", { id: newId("as") }, h("option", { value: "" }, t("All sites")));
  const since = h("input", { type: "date", id: newId("from") });
  const until = h("input", { type: "date", id: newId("to") });
  const pick = (label, control) => h("div", { class: "field" }, h("label", { for: control.id }, label), control);
  const filters = h("form", { class: "admin-filters" },
    pick(t("Action"), action), pick(t("Site"), site), pick(t("From"), since), pick(t("Until"), until),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button primary" }, t("Show"))));
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const list = h("div", {});
  const pager = h("nav", { class: "pager", "aria-label": t("Pages") });
  container.append(h("section", { class: "admin-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading), filters, status, list, pager));

  let page = 1;
  let optionsFilled = false;
  const dateFormat = new Intl.DateTimeFormat(uiTag(), { dateStyle: "short", timeStyle: "short" });
  filters.addEventListener("submit", (event) => { event.preventDefault(); page = 1; load(); });

  async function fillSites(data) {
    let sites = data.sites;
    if (!sites) {
      try { sites = (await api.get("/api/admin/sites")).sites; } catch { sites = []; }
    }
    for (const s of sites) site.append(h("option", { value: s.id }, s.name));
    for (const a of data.actions) action.append(h("option", { value: a }, actionText(a)));
  }

  async function load() {
    const params = new URLSearchParams({ page: String(page) });
    if (action.value) params.set("action", action.value);
    if (site.value) params.set("site_id", site.value);
    if (since.value) params.set("since", since.value);
    if (until.value) params.set("until", until.value);
    let data;
    try { data = await api.get(`/api/admin/audit?${params}`); } catch (error) { status.textContent = error.message; return; }
    if (!optionsFilled) { optionsFilled = true; await fillSites(data); }
    status.textContent = tn("{n} event", "{n} events", data.total);
    clear(list);
    if (data.events.length) {
      list.append(h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": heading }, h("table", { class: "admin-table" },
        h("caption", { class: "visually-hidden" }, heading),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("Time")), h("th", { scope: "col" }, t("Action")),
          h("th", { scope: "col" }, t("By")), h("th", { scope: "col" }, t("Site")),
          h("th", { scope: "col" }, t("Object")), h("th", { scope: "col" }, t("Details")))),
        h("tbody", {}, ...data.events.map((e) => h("tr", {},
          h("td", {}, h("time", { datetime: e.at }, dateFormat.format(new Date(e.at)))),
          h("td", {}, actionText(e.action), h("code", { class: "slug" }, e.action)),
          h("td", {}, actorText(e.actor)),
          h("td", {}, e.site_name || "–"),
          h("td", {}, e.subject_type),
          h("td", { class: "details" }, Object.keys(e.details).length ? JSON.stringify(e.details) : "–")))))));
    }
    clear(pager);
    const pages = Math.max(1, Math.ceil(data.total / data.page_size));
    pager.append(
      h("button", { type: "button", class: "button small", disabled: page <= 1, onclick: () => { page -= 1; load(); } }, t("Newer")),
      h("span", {}, t("Page {page} of {pages}", { page, pages })),
      h("button", { type: "button", class: "button small", disabled: page >= pages, onclick: () => { page += 1; load(); } }, t("Older")));
  }

  await load();
}
