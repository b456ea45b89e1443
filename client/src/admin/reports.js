// Admin section "Reports" (#/admin/reports, issue #8): accounts that counsellors reported.
// Site leads see their sites' reports (and can read the notes: sealed to the site key), admins
// every report (metadata only unless they hold the site key). Per report: dismiss it, or block
// the account from new enquiries at that site (and lift that block again).

import { h, clear } from "../ui/dom.js";
import { t, tn } from "../i18n/i18n.js";
import { api, segment } from "../net/api.js";
import { requireAccount, newId } from "../chat/ui.js";
import { longTime } from "../chat/format.js";
import { openReportNote, reasonLabel } from "../chat/moderation.js";
import { addSection, ADMIN_ROLES } from "./sections.js";

export const path = "/admin/reports";
export const title = () => t("Reports");

addSection({
  path, label: title, order: 55, roles: ADMIN_ROLES,
  description: () => t("Young people's accounts that counsellors reported: dismiss, or block from new enquiries at your site."),
});

function statusText(report) {
  if (report.status === "dismissed") return t("Dismissed");
  if (report.status === "actioned") return t("Dealt with");
  return t("Open");
}

export async function render(container) {
  const heading = t("Reports");
  const account = await requireAccount(container, heading);
  if (!account) return;
  if (!ADMIN_ROLES.includes(account.role)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for site leads and administrators.")));
    return;
  }
  const state = h("select", { id: newId("rs") },
    h("option", { value: "open" }, t("Open reports")),
    h("option", { value: "closed" }, t("Dealt with or dismissed")),
    h("option", { value: "all" }, t("All reports")));
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "report-list" });
  container.append(h("section", { class: "admin-page reports-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading),
    h("div", { class: "field" }, h("label", { for: state.id }, t("Show")), state),
    status, list));
  state.addEventListener("change", () => load());

  function actionButton(report, action, label) {
    const button = h("button", { type: "button", class: `button small${action === "block_site" ? " danger" : ""}`, dataset: { action } }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api.post(`/api/reports/${segment(report.id)}/resolve`, { action });
        status.textContent = action === "dismiss" ? t("The report was dismissed.")
          : action === "block_site" ? t("The account can no longer start enquiries at this site.")
            : t("The account can start enquiries at this site again.");
        await load(false);
      } catch (error) {
        status.textContent = error.message;
        button.disabled = false;
      }
    });
    return button;
  }

  async function card(report) {
    const note = h("p", { class: "report-note-text" });
    if (report.sealed_note) {
      try {
        const opened = await openReportNote(report);
        note.textContent = opened ? opened.text : "";
        if (opened) note.dir = opened.dir;
      } catch {
        note.textContent = t("The note is encrypted for the site's team and cannot be opened here.");
        note.classList.add("hint");
      }
    }
    const actions = h("div", { class: "confirm-actions" });
    if (report.status === "open") actions.append(actionButton(report, "dismiss", t("Dismiss")));
    actions.append(report.site_blocked
      ? actionButton(report, "unblock_site", t("Allow new enquiries again"))
      : actionButton(report, "block_site", t("Block from new enquiries at this site")));
    return h("li", { class: "report-card", dataset: { id: report.id, status: report.status } },
      h("p", { class: "report-head" },
        h("bdi", { class: "report-nickname" }, report.nickname || t("Account deleted")), " · ",
        h("span", { class: "tag" }, reasonLabel(report.reason)), " · ",
        h("span", { class: "tag" }, statusText(report))),
      h("p", { class: "hint" }, h("time", { datetime: report.created_at }, longTime(report.created_at))),
      report.site_blocked ? h("p", { class: "notice" }, t("Blocked from new enquiries at this site.")) : null,
      report.sealed_note ? note : null,
      actions);
  }

  async function load(announce = true) {
    let data;
    try {
      data = await api.get(`/api/reports?state=${encodeURIComponent(state.value)}`);
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    clear(list);
    for (const report of data.items) list.append(await card(report));
    if (announce) status.textContent = data.items.length ? tn("{n} report", "{n} reports", data.items.length) : t("No reports.");
  }
  await load();
}
