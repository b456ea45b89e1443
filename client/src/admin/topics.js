// Admin section "Topics" (#/admin/topics): every topic with its name in each language; admins
// rename a topic per language (empty: back to the built-in name) and switch it off for new
// enquiries. Topic keys never change.

import { h, clear } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { api, segment } from "../net/api.js";
import { requireAccount, newId } from "../chat/ui.js";
import { addSection } from "./sections.js";
import { uiTag } from "../chat/format.js";

export const path = "/admin/topics";
export const title = () => t("Topics");

addSection({
  path, label: title, order: 30, roles: ["admin"],
  description: () => t("Names of the topics in every language; switch topics off for new enquiries."),
});

export async function render(container) {
  const heading = t("Topics");
  const account = await requireAccount(container, heading);
  if (!account) return;
  if (account.role !== "admin") {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for administrators.")));
    return;
  }
  const uiLocale = uiTag().replace("-", "_");
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const list = h("div", { class: "admin-topics" });
  container.append(h("section", { class: "admin-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading),
    h("p", { class: "hint" }, t("Change a name and save; an empty field restores the original name.")),
    status, list));

  async function load() {
    const data = await api.get("/api/admin/topics");
    clear(list);
    for (const topic of data.topics) list.append(topicCard(topic, data.locales));
  }

  function topicCard(topic, locales) {
    const inputs = locales.map((locale) => {
      const input = h("input", { type: "text", id: newId("tn"), value: topic.names[locale] || "", lang: locale.replace("_", "-"), dir: "auto", maxlength: 80 });
      const changed = topic.renamed.includes(locale);
      return { locale, input, el: h("div", { class: "field" },
        h("label", { for: input.id }, locale, changed ? ` (${t("changed")})` : ""), input) };
    });
    const active = h("input", { type: "checkbox", id: newId("ta"), checked: topic.active });
    const save = h("button", { type: "submit", class: "button primary small" }, t("Save"));
    const form = h("form", { class: "topic-card" + (topic.active ? "" : " inactive") },
      h("h2", {}, topic.names[uiLocale] || topic.names.de || topic.key, " ", h("span", { class: "slug" }, topic.key)),
      h("div", { class: "field check" }, h("label", { for: active.id }, active, " ", t("Offered for new enquiries"))),
      h("details", {}, h("summary", {}, t("Names in every language")), h("div", { class: "form-grid" }, ...inputs.map((i) => i.el))),
      h("div", { class: "form-actions" }, save));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const names = {};
      for (const { locale, input } of inputs) {
        const value = input.value.trim();
        if (value !== (topic.names[locale] || "")) names[locale] = value;
      }
      save.disabled = true;
      try {
        const data = await api.post(`/api/admin/topics/${segment(topic.key)}`, { names, active: active.checked });
        form.replaceWith(topicCard(data.topic, locales));
        status.textContent = t("The topic {key} was saved.", { key: topic.key });
      } catch (error) {
        status.textContent = error.message;
        save.disabled = false;
      }
    });
    return form;
  }

  try { await load(); } catch (error) { status.textContent = error.message; }
}
