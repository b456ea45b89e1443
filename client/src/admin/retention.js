// Admin section "Retention" (#/admin/retention): how long what is kept (config.toml defaults,
// admins may change them within safe bounds), and what the last retention run deleted.

import { h, clear } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { api } from "../net/api.js";
import { requireAccount, newId } from "../chat/ui.js";
import { addSection } from "./sections.js";
import { uiTag } from "../chat/format.js";

export const path = "/admin/retention";
export const title = () => t("Retention");

addSection({
  path, label: title, order: 40, roles: ["admin"],
  description: () => t("How long closed conversations, unused accounts and the audit trail are kept."),
});

const LABELS = {
  closed_conversation_days: () => t("Closed conversations are deleted after (days without activity)"),
  account_without_enquiry_days: () => t("Young people's accounts without any conversation are deleted after (days)"),
  audit_days: () => t("Audit events are deleted after (days)"),
  round_message_days: () => t("Messages of chat rounds are deleted after the round ended (days)"),
};

const RULES = {
  closed_conversations: () => t("Closed conversations"),
  accounts_without_enquiry: () => t("Accounts without an enquiry"),
  unfinished_staff_accounts: () => t("Unfinished staff accounts"),
  expired_invitations: () => t("Expired invitations"),
  expired_sessions: () => t("Expired sessions"),
  stale_login_throttles: () => t("Old failed-login counters"),
  old_audit_events: () => t("Old audit events"),
  closed_rounds: () => t("Messages of past chat rounds"),
};

export async function render(container) {
  const heading = t("Retention");
  const account = await requireAccount(container, heading);
  if (!account) return;
  if (account.role !== "admin") {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for administrators.")));
    return;
  }
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const body = h("div", {});
  container.append(h("section", { class: "admin-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading), status, body));

  function draw(data) {
    clear(body);
    const inputs = {};
    const rows = Object.keys(LABELS).filter((name) => name in data.bounds).map((name) => {
      const [low, high] = data.bounds[name];
      const input = h("input", { type: "number", id: newId("ret"), min: low, max: high, step: 1, value: data.effective[name], required: true });
      inputs[name] = input;
      const hint = h("p", { class: "hint", id: `${input.id}-hint` },
        t("Between {low} and {high} days. Default from the configuration: {default}.", { low, high, default: data.defaults[name] }),
        data.overridden.includes(name) ? ` ${t("Changed here.")}` : "");
      input.setAttribute("aria-describedby", hint.id);
      return h("div", { class: "field" }, h("label", { for: input.id }, LABELS[name]()), input, hint);
    });
    const save = h("button", { type: "submit", class: "button primary" }, t("Save"));
    const form = h("form", { class: "admin-form" }, ...rows, h("div", { class: "form-actions" }, save));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const change = {};
      for (const [name, input] of Object.entries(inputs)) change[name] = Number(input.value);
      save.disabled = true;
      try {
        draw(await api.post("/api/admin/retention", change));
        status.textContent = t("The retention settings were saved.");
      } catch (error) {
        status.textContent = error.message;
        save.disabled = false;
      }
    });
    const last = data.last_run
      ? h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": t("Last run") }, h("table", { class: "admin-table" },
        h("caption", {}, t("Last run: {time}", { time: new Intl.DateTimeFormat(uiTag(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(data.last_run.at)) })),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("Rule")), h("th", { scope: "col" }, t("Deleted")))),
        h("tbody", {}, ...Object.entries(data.last_run.deleted).map(([rule, n]) =>
          h("tr", {}, h("th", { scope: "row" }, RULES[rule] ? RULES[rule]() : rule), h("td", {}, String(n)))))))
      : h("p", { class: "hint" }, t("The retention job has not run yet."));
    body.append(form,
      h("p", { class: "hint" }, t("The retention job runs every {n} minutes.", { n: data.run_every_minutes })),
      h("h2", {}, t("Last run")), last);
  }

  try { draw(await api.get("/api/admin/retention")); } catch (error) { status.textContent = error.message; }
}
