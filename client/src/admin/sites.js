// Admin section "Sites" (#/admin/sites): the site directory with search and filters, a form with
// every field (site leads: contact data, opening hours, languages and topics of their own
// sites), activate/deactivate, import (dry run with the per-row report first, then "Apply")
// and export downloads. The server validates everything again (POST /api/admin/sites...).

import { h, clear } from "../ui/dom.js";
import { t, tn } from "../i18n/i18n.js";
import { api, ApiError, segment } from "../net/api.js";
import { requireAccount, newId } from "../chat/ui.js";
import { addSection, ADMIN_ROLES } from "./sections.js";

export const path = "/admin/sites";
export const title = () => t("Sites");

addSection({
  path, label: title, order: 10, roles: ADMIN_ROLES,
  description: () => t("The JMD site directory: addresses, languages, opening hours, import and export."),
});

const STATES = [
  "Baden-Württemberg", "Bayern", "Berlin", "Brandenburg", "Bremen", "Hamburg", "Hessen",
  "Mecklenburg-Vorpommern", "Niedersachsen", "Nordrhein-Westfalen", "Rheinland-Pfalz",
  "Saarland", "Sachsen", "Sachsen-Anhalt", "Schleswig-Holstein", "Thüringen",
];
function field(label, control, hint) {
  const id = control.id || newId("f");
  control.id = id;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) { control.setAttribute("aria-describedby", hintEl.id); control.dataset.hint = hintEl.id; }
  const error = h("p", { class: "field-error error", id: `${id}-error`, hidden: true });
  return { el: h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl, error), control, error };
}

function checkbox(label, checked) {
  const input = h("input", { type: "checkbox", id: newId("cb"), checked: Boolean(checked) });
  const error = h("p", { class: "field-error error", id: `${input.id}-error`, hidden: true });
  return { el: h("div", { class: "field check" }, h("label", { for: input.id }, input, " ", label), error), control: input, error };
}

function stateSelect(value, { blank }) {
  return h("select", {},
    h("option", { value: "" }, blank),
    ...STATES.map((s) => h("option", { value: s, selected: s === value }, s)));
}

function boolSelect(blank) {
  return h("select", {},
    h("option", { value: "" }, blank),
    h("option", { value: "true" }, t("Yes")),
    h("option", { value: "false" }, t("No")));
}

export async function render(container) {
  const heading = t("Sites");
  const account = await requireAccount(container, heading);
  if (!account) return;
  if (!ADMIN_ROLES.includes(account.role)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for site leads and administrators.")));
    return;
  }
  const isAdmin = account.role === "admin";
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const list = h("div", { class: "admin-list" });
  const editor = h("div", { class: "admin-editor" });
  const q = h("input", { type: "search", id: newId("q") });
  const state = stateSelect("", { blank: t("All federal states") });
  const active = boolSelect(t("Active and inactive"));
  const online = boolSelect(t("All"));
  const quartier = boolSelect(t("All"));
  const filters = h("form", { class: "admin-filters", role: "search" },
    field(t("Search"), q).el,
    field(t("Federal state"), state).el,
    field(t("Active"), active).el,
    field(t("Takes online enquiries"), online).el,
    field(t("JMD im Quartier"), quartier).el);
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  for (const control of [state, active, online, quartier]) control.addEventListener("change", () => load());
  q.addEventListener("input", () => load());

  const tools = h("div", { class: "admin-tools" });
  const root = h("section", { class: "admin-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading), tools, filters, status, editor, list);
  container.append(root);

  let topics = [];
  try { topics = (await api.get("/api/topics")).topics; } catch { topics = []; }
  let loaded = { sites: [], can_edit_all: false, lead_fields: [] };

  if (isAdmin) {
    tools.append(
      h("button", { type: "button", class: "button primary", onclick: () => openEditor(null) }, t("New site")),
      h("a", { class: "button", href: "/api/admin/sites/export.csv", download: "jmdchat-sites.csv" }, t("Export CSV")),
      h("a", { class: "button", href: "/api/admin/sites/export.json", download: "jmdchat-sites.json" }, t("Export JSON")),
      importPanel(() => load(), () => loaded.max_import_bytes));
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const params = new URLSearchParams();
    if (q.value.trim()) params.set("q", q.value.trim());
    if (state.value) params.set("state", state.value);
    if (active.value) params.set("active", active.value);
    if (online.value) params.set("takes_online", online.value);
    if (quartier.value) params.set("quartier", quartier.value);
    try {
      const data = await api.get(`/api/admin/sites?${params}`);
      if (mine !== seq) return;
      loaded = data;
      draw();
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.message : t("Something went wrong. Please try again.");
    }
  }

  function draw() {
    clear(list);
    status.textContent = tn("{n} site", "{n} sites", loaded.sites.length);
    if (!loaded.sites.length) { list.append(h("p", { class: "hint" }, t("No sites match."))); return; }
    const rows = loaded.sites.map((site) => h("tr", { class: site.active ? "" : "inactive" },
      h("th", { scope: "row" }, site.name, h("span", { class: "slug" }, site.slug)),
      h("td", {}, [site.postcode, site.city].filter(Boolean).join(" ")),
      h("td", {}, site.state),
      h("td", {}, site.languages.join(" ")),
      h("td", {}, site.active ? t("Active") : t("Inactive")),
      h("td", { class: "actions" },
        h("button", { type: "button", class: "button small", onclick: () => openEditor(site) }, t("Edit")),
        isAdmin ? h("button", { type: "button", class: "button small subtle", onclick: () => toggle(site) },
          site.active ? t("Deactivate") : t("Activate")) : null)));
    list.append(h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": heading }, h("table", { class: "admin-table" },
      h("caption", { class: "visually-hidden" }, heading),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("Name")), h("th", { scope: "col" }, t("Place")),
        h("th", { scope: "col" }, t("Federal state")), h("th", { scope: "col" }, t("Languages")),
        h("th", { scope: "col" }, t("Status")), h("th", { scope: "col" }, t("Actions")))),
      h("tbody", {}, ...rows))));
  }

  async function toggle(site) {
    try {
      await api.post(`/api/admin/sites/${segment(site.id)}`, { active: !site.active });
      status.textContent = site.active ? t("{name} was deactivated.", { name: site.name }) : t("{name} was activated.", { name: site.name });
      await load();
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function openEditor(site) {
    clear(editor);
    editor.append(siteForm(site, { isAdmin, topics, onSaved: async (saved) => {
      clear(editor);
      status.textContent = t("{name} was saved.", { name: saved.name });
      await load();
    }, onCancel: () => clear(editor) }));
    const first = editor.querySelector("input, select, textarea");
    editor.scrollIntoView();
    if (first) first.focus();
  }

  await load();
}

function siteForm(site, { isAdmin, topics, onSaved, onCancel }) {
  const s = site || { slug: "", name: "", provider: "", street: "", postcode: "", city: "", state: "", latitude: null, longitude: null, languages: [], topics: [], opening_hours: {}, runs_quartier: false, takes_online: true, is_online_team: false, phone: "", email: "", website: "", active: true };
  const adminOnly = (el) => { if (!isAdmin) el.disabled = true; return el; };
  const text = (value, attrs = {}) => h("input", { type: "text", value: value ?? "", ...attrs });
  const fields = {
    slug: field(t("Short name (slug)"), adminOnly(text(s.slug, { disabled: Boolean(site), autocomplete: "off" })), t("Lowercase letters, digits and hyphens, like jmd-trier. Cannot be changed later.")),
    name: field(t("Name"), adminOnly(text(s.name))),
    provider: field(t("Provider"), adminOnly(text(s.provider))),
    street: field(t("Street and number"), adminOnly(text(s.street))),
    postcode: field(t("Postcode"), adminOnly(text(s.postcode, { inputmode: "numeric", autocomplete: "off" }))),
    city: field(t("Town"), adminOnly(text(s.city))),
    state: field(t("Federal state"), adminOnly(stateSelect(s.state, { blank: t("From the postcode") }))),
    latitude: field(t("Latitude"), adminOnly(text(s.latitude ?? "", { inputmode: "decimal" })), t("Leave empty: taken from the postcode.")),
    longitude: field(t("Longitude"), adminOnly(text(s.longitude ?? "", { inputmode: "decimal" }))),
    languages: field(t("Languages spoken"), text(s.languages.join(" ")), t("Language codes separated by spaces, like de ar fa_AF ku.")),
    topics: null,
    opening_hours: field(t("Opening hours"), text(s.opening_hours_text || ""), t("Like mon-thu 09:00-16:00; fri 09:00-12:00")),
    phone: field(t("Phone"), text(s.phone, { type: "tel" })),
    email: field(t("Email"), text(s.email, { type: "email" })),
    website: field(t("Website"), text(s.website, { type: "url" })),
    runs_quartier: checkbox(t("Runs JMD im Quartier"), s.runs_quartier),
    takes_online: checkbox(t("Takes online enquiries"), s.takes_online),
    is_online_team: checkbox(t("Nationwide online team"), s.is_online_team),
    active: checkbox(t("Active"), s.active),
  };
  for (const name of ["runs_quartier", "takes_online", "is_online_team", "active"]) adminOnly(fields[name].control);
  const topicBoxes = topics.map((topic) => {
    const input = h("input", { type: "checkbox", id: newId("topic"), value: topic.key, checked: s.topics.includes(topic.key) });
    return { input, el: h("label", { for: input.id, class: "topic-choice" }, input, " ", topic.name) };
  });
  const topicsError = h("p", { class: "field-error error", hidden: true });
  fields.topics = { el: h("fieldset", { class: "field topics" }, h("legend", {}, t("Topics")),
    h("p", { class: "hint" }, t("None ticked: the site takes every topic.")),
    h("div", { class: "topic-choices" }, ...topicBoxes.map((b) => b.el)), topicsError), error: topicsError };

  const errorBox = h("div", { class: "error-box", role: "alert", hidden: true });
  const saveButton = h("button", { type: "submit", class: "button primary" }, t("Save"));
  const form = h("form", { class: "admin-form", novalidate: true },
    h("h2", {}, site ? t("Edit {name}", { name: site.name }) : t("New site")),
    isAdmin ? null : h("p", { class: "hint" }, t("As a site lead you can change the contact data, opening hours, languages and topics.")),
    errorBox,
    h("div", { class: "form-grid" }, ...Object.values(fields).map((f) => f.el)),
    h("div", { class: "form-actions" }, saveButton,
      h("button", { type: "button", class: "button", onclick: onCancel }, t("Cancel"))));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const f of Object.values(fields)) {
      f.error.hidden = true;
      f.error.textContent = "";
      if (!f.control) continue;
      f.control.removeAttribute("aria-invalid");
      const hint = f.control.dataset.hint;
      if (hint) f.control.setAttribute("aria-describedby", hint); else f.control.removeAttribute("aria-describedby");
    }
    errorBox.hidden = true;
    const value = (name) => fields[name].control.value.trim();
    const body = {
      languages: value("languages"),
      topics: topicBoxes.filter((b) => b.input.checked).map((b) => b.input.value),
      opening_hours: value("opening_hours"),
      phone: value("phone"), email: value("email"), website: value("website"),
    };
    if (isAdmin) {
      Object.assign(body, {
        name: value("name"), provider: value("provider"), street: value("street"),
        postcode: value("postcode"), city: value("city"), state: value("state"),
        latitude: value("latitude") || null, longitude: value("longitude") || null,
        runs_quartier: fields.runs_quartier.control.checked, takes_online: fields.takes_online.control.checked,
        is_online_team: fields.is_online_team.control.checked, active: fields.active.control.checked,
      });
      if (!site) body.slug = value("slug");
      // A new postcode brings its own town, Bundesland and coordinates (from the offline
      // postcode table) unless those were changed by hand as well.
      if (site && body.postcode !== (s.postcode || "")) {
        if (body.latitude === String(s.latitude ?? "") && body.longitude === String(s.longitude ?? "")) {
          body.latitude = null;
          body.longitude = null;
        }
        if (body.city === (s.city || "")) body.city = "";
        if (body.state === (s.state || "")) body.state = "";
      }
    }
    saveButton.disabled = true;
    try {
      const data = site
        ? await api.post(`/api/admin/sites/${segment(site.id)}`, body)
        : await api.post("/api/admin/sites", body);
      await onSaved(data.site);
    } catch (error) {
      errorBox.hidden = false;
      errorBox.textContent = error.message;
      for (const item of (error.body && error.body.errors) || []) {
        const f = fields[item.field];
        if (!f) continue;
        f.error.hidden = false;
        f.error.textContent = item.message;
        if (f.control) {
          f.control.setAttribute("aria-invalid", "true");
          f.control.setAttribute("aria-describedby", [f.control.dataset.hint, f.error.id].filter(Boolean).join(" "));
        }
      }
      const invalid = form.querySelector("[aria-invalid=true]");
      (invalid || errorBox).focus?.();
    } finally {
      saveButton.disabled = false;
    }
  });
  return form;
}

// --- import -----------------------------------------------------------------------------------

function importPanel(onImported, maxBytes) {
  const fileInput = h("input", { type: "file", accept: ".csv,.json,text/csv,application/json", id: newId("file") });
  const deactivate = h("input", { type: "checkbox", id: newId("deact") });
  const checkButton = h("button", { type: "submit", class: "button primary" }, t("Check file"));
  const applyButton = h("button", { type: "button", class: "button primary", hidden: true }, t("Apply"));
  const result = h("div", { class: "import-result", "aria-live": "polite" });
  let pending = null;

  async function send(dryRun) {
    const file = fileInput.files && fileInput.files[0];
    if (!file) { result.textContent = t("Please choose a file."); return null; }
    const limit = maxBytes();
    if (limit && file.size > limit) {
      result.textContent = t("The file is too large ({size} KB); at most {limit} KB can be uploaded here. Split it, or use “jmdchat sites import”.", { size: Math.ceil(file.size / 1024), limit: Math.floor(limit / 1024) });
      return null;
    }
    const format = file.name.toLowerCase().endsWith(".json") ? "json" : "csv";
    const content = pending && pending.file === file ? pending.content : await file.text();
    pending = { file, content, format };
    return (await api.post("/api/admin/sites/import", { format, content, dry_run: dryRun, deactivate_missing: deactivate.checked })).report;
  }

  function show(report) {
    clear(result);
    const summary = report.dry_run
      ? t("Check: {created} new, {updated} changed, {unchanged} unchanged, {deactivated} deactivated.", { created: report.created.length, updated: report.updated.length, unchanged: report.unchanged.length, deactivated: report.deactivated.length })
      : t("Imported: {created} new, {updated} changed, {unchanged} unchanged, {deactivated} deactivated.", { created: report.created.length, updated: report.updated.length, unchanged: report.unchanged.length, deactivated: report.deactivated.length });
    if (report.errors.length) {
      result.append(
        h("p", { class: "error", role: "alert" }, tn("The file has {n} error. Nothing was imported.", "The file has {n} errors. Nothing was imported.", report.errors.length)),
        h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": t("Errors by row") }, h("table", { class: "admin-table import-errors" },
          h("caption", {}, t("Errors by row")),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("Line")), h("th", { scope: "col" }, t("Field")), h("th", { scope: "col" }, t("Reason")))),
          h("tbody", {}, ...report.errors.map((e) => h("tr", {}, h("td", {}, String(e.line)), h("td", {}, e.field), h("td", {}, e.message)))))));
      applyButton.hidden = true;
      return;
    }
    result.append(h("p", { class: report.dry_run ? "notice" : "notice success" }, summary));
    applyButton.hidden = !report.dry_run || !(report.created.length || report.updated.length || report.deactivated.length);
  }

  const form = h("form", { class: "admin-import" },
    h("h2", {}, t("Import")),
    h("p", { class: "hint" }, t("A CSV or JSON file as described in the documentation. It is checked first; nothing is changed until you press “Apply”.")),
    field(t("File"), fileInput).el,
    h("div", { class: "field check" }, h("label", { for: deactivate.id }, deactivate, " ", t("Deactivate active sites that are not in the file"))),
    h("div", { class: "form-actions" }, checkButton, applyButton),
    result);
  fileInput.addEventListener("change", () => { pending = null; applyButton.hidden = true; clear(result); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    checkButton.disabled = true;
    try { const report = await send(true); if (report) show(report); } catch (error) { result.textContent = error.message; } finally { checkButton.disabled = false; }
  });
  applyButton.addEventListener("click", async () => {
    applyButton.disabled = true;
    try { const report = await send(false); if (report) { show(report); if (report.ok) await onImported(); } } catch (error) { result.textContent = error.message; } finally { applyButton.disabled = false; }
  });
  return h("details", { class: "admin-import-panel" }, h("summary", {}, t("Import sites")), form);
}
