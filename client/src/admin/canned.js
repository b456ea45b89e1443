// Admin section "Canned responses" (#/admin/canned): site leads manage their sites' canned
// responses (list, create, edit, delete). They are sealed to the site key in this browser with
// the same code as the counsellor tools (chat/counsellor.js); the server never sees the text.

import { h, clear } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { requireAccount, describeChatError, newId } from "../chat/ui.js";
import { deleteCanned, listCanned, saveCanned } from "../chat/counsellor.js";
import { addSection } from "./sections.js";

export const path = "/admin/canned";
export const title = () => t("Canned responses");

addSection({
  path, label: title, order: 50, roles: ["site_lead"],
  description: () => t("Ready-made answers of your sites, end-to-end encrypted."),
});

export async function render(container) {
  const heading = t("Canned responses");
  const account = await requireAccount(container, heading, { counsellor: true });
  if (!account) return;
  const sites = account.sites || [];
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const siteSelect = h("select", { id: newId("cs") }, ...sites.map((s) => h("option", { value: s.id }, s.name)));
  const list = h("ul", { class: "canned-admin-list" });
  const editor = h("div", {});
  container.append(h("section", { class: "admin-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading),
    h("div", { class: "field" }, h("label", { for: siteSelect.id }, t("Site")), siteSelect),
    h("p", {}, h("button", { type: "button", class: "button primary", dataset: { action: "new-canned" }, onclick: () => edit(null) }, t("New canned response"))),
    status, editor, list));
  if (!sites.length) { status.textContent = t("You do not work in a site."); return; }
  // The first request connects the socket (net/socket.js); calling connect() here as well
  // could send socket.io's namespace CONNECT twice while the engine is opening.

  let items = [];
  async function load(attempt = 0) {
    try {
      items = (await listCanned(siteSelect.value)).filter((c) => c.siteId === siteSelect.value);
    } catch (error) {
      status.textContent = describeChatError(error);
      // No answer yet (offline, a busy server): try again a few times, then leave the message.
      if (error && error.transient && attempt < 3 && list.isConnected) {
        setTimeout(() => load(attempt + 1), 2000 * (attempt + 1));
      }
      return;
    }
    status.textContent = "";
    clear(list);
    if (!items.length) list.append(h("li", { class: "hint" }, t("No canned responses yet.")));
    for (const c of items) {
      list.append(h("li", { class: "canned-admin" },
        h("h2", {}, c.title || t("Canned response")),
        h("p", { dir: c.dir, class: "canned-body" }, c.body),
        h("p", { class: "hint" }, c.language),
        h("div", { class: "form-actions" },
          h("button", { type: "button", class: "button small", dataset: { action: "edit" }, onclick: () => edit(c) }, t("Edit")),
          h("button", { type: "button", class: "button small danger-outline", dataset: { action: "delete" }, onclick: () => remove(c) }, t("Delete")))));
    }
  }

  async function remove(c) {
    if (!window.confirm(t("Delete this canned response?"))) return;
    try { await deleteCanned(c.id); await load(); status.textContent = t("Deleted."); } catch (error) { status.textContent = describeChatError(error); }
  }

  function edit(c) {
    clear(editor);
    const titleInput = h("input", { type: "text", id: newId("ct"), value: c ? c.title : "", maxlength: 120 });
    const lang = h("input", { type: "text", id: newId("cl"), value: c ? c.language : (account.locale || "de"), maxlength: 16 });
    const body = h("textarea", { id: newId("cb"), rows: 5, dir: "auto", required: true }, c ? c.body : "");
    const form = h("form", { class: "admin-form canned-form" },
      h("h2", {}, c ? t("Edit canned response") : t("New canned response")),
      h("div", { class: "field" }, h("label", { for: titleInput.id }, t("Title")), titleInput),
      h("div", { class: "field" }, h("label", { for: lang.id }, t("Language code")), lang),
      h("div", { class: "field" }, h("label", { for: body.id }, t("Text")), body),
      h("div", { class: "form-actions" },
        h("button", { type: "submit", class: "button primary" }, t("Save")),
        h("button", { type: "button", class: "button", onclick: () => clear(editor) }, t("Cancel"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!body.value.trim()) { status.textContent = t("Please write a text."); return; }
      try {
        await saveCanned({ id: c ? c.id : undefined, siteId: siteSelect.value, language: lang.value.trim() || "de", title: titleInput.value.trim(), body: body.value.trim() });
        clear(editor);
        await load();
        status.textContent = t("Saved.");
      } catch (error) {
        status.textContent = describeChatError(error);
      }
    });
    editor.append(form);
    titleInput.focus();
  }

  siteSelect.addEventListener("change", () => load());
  await load();
}
