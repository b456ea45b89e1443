// The counsellor's tools under a conversation: canned responses (pick one to insert it into the
// composer; add new ones for the site or for myself), private notes of the site, my absence.
// Disclosure widgets (<details>) keep the screen calm on a phone.

import { h, clear } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { languageName, shippedLanguages, shortTime, longTime } from "./format.js";
import { addNote, listCanned, listNotes, saveCanned, setAbsence, deleteCanned } from "./counsellor.js";
import { describeChatError, newId } from "./ui.js";
import { directionOf } from "../i18n/bidi.js";
import { moderationPanel } from "./moderation.js";

function panel(titleText, body, onOpen) {
  const details = h("details", { class: "tool" }, h("summary", {}, titleText), body);
  let loaded = false;
  details.addEventListener("toggle", () => {
    if (details.open && !loaded) { loaded = true; onOpen(); }
  });
  return details;
}

function field(label, control) {
  const id = control.id || newId("tool");
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

function languageSelect(value) {
  const select = h("select", {});
  for (const lang of shippedLanguages()) select.append(h("option", { value: lang.code, lang: lang.tag, dir: lang.dir, selected: lang.code === value }, lang.name));
  return select;
}

export function counsellorTools(conv, { insert }) {
  const siteId = conv.siteId;
  return h("div", { class: "tools" },
    cannedPanel(conv, siteId, insert),
    notesPanel(conv, siteId),
    absencePanel(),
    moderationPanel(conv), // block or report (issue #8, chat/moderation.js)
  );
}

function cannedPanel(conv, siteId, insert) {
  const status = h("p", { class: "tool-status", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "canned-list" });
  const filter = languageSelect(conv.summary && conv.summary.language);
  const all = h("option", { value: "" }, t("All languages"));
  filter.prepend(all);
  let items = [];
  const draw = () => {
    clear(list);
    const shown = items.filter((c) => !filter.value || c.language === filter.value);
    if (!shown.length) list.append(h("li", { class: "hint" }, t("No canned responses yet.")));
    for (const c of shown) {
      const use = h("button", { type: "button", class: "button small" }, t("Insert"));
      use.addEventListener("click", () => insert(c.body));
      const del = h("button", { type: "button", class: "link-button" }, t("Delete"));
      del.addEventListener("click", async () => {
        try { await deleteCanned(c.id); items = items.filter((x) => x !== c); draw(); } catch (error) { status.textContent = describeChatError(error); }
      });
      list.append(h("li", { class: "canned" },
        h("p", { class: "canned-title" }, c.title || t("Canned response"), " ",
          h("span", { class: "tag" }, languageName(c.language)), " ",
          h("span", { class: "tag" }, c.siteId ? t("Site") : t("Personal"))),
        h("p", { class: "canned-body", dir: c.dir }, c.body),
        h("div", { class: "canned-actions" }, use, del)));
    }
  };
  filter.addEventListener("change", draw);
  const load = async () => {
    status.textContent = t("Loading…");
    try {
      items = await listCanned(siteId);
      status.textContent = "";
    } catch (error) {
      status.textContent = describeChatError(error);
    }
    draw();
  };
  // New canned response.
  const titleInput = h("input", { type: "text", maxlength: 80, dir: "auto" });
  const body = h("textarea", { rows: 3, dir: "auto", maxlength: 2000 });
  body.addEventListener("input", () => { body.dir = body.value.trim() ? directionOf(body.value) : "auto"; });
  const lang = languageSelect(conv.summary && conv.summary.language);
  const scope = h("select", {}, h("option", { value: "site" }, t("For the whole site")), h("option", { value: "own" }, t("Only for me")));
  const save = h("button", { type: "submit", class: "button small primary" }, t("Save"));
  const form = h("form", { class: "tool-form" },
    field(t("Title"), titleInput), field(t("Text"), body), field(t("Language"), lang), field(t("Who can use it"), scope), save);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!body.value.trim()) { body.focus(); return; }
    save.disabled = true;
    try {
      await saveCanned({ siteId: scope.value === "site" ? siteId : null, language: lang.value, title: titleInput.value.trim(), body: body.value.trim() });
      titleInput.value = ""; body.value = "";
      status.textContent = t("Saved.");
      await load();
    } catch (error) {
      status.textContent = describeChatError(error);
    }
    save.disabled = false;
  });
  return panel(t("Canned responses"), h("div", { class: "tool-body" },
    field(t("Language"), filter), list, status,
    h("details", { class: "tool-sub" }, h("summary", {}, t("New canned response")), form)), load);
}

function notesPanel(conv, siteId) {
  const status = h("p", { class: "tool-status", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "notes-list" });
  const load = async () => {
    status.textContent = t("Loading…");
    try {
      const notes = await listNotes(conv.id);
      clear(list);
      if (!notes.length) list.append(h("li", { class: "hint" }, t("No notes yet.")));
      for (const note of notes) {
        list.append(h("li", { class: "note" },
          note.error ? h("p", { class: "unreadable" }, t("This note could not be opened.")) : h("p", { dir: note.dir }, note.text),
          h("p", { class: "hint" }, [note.author, shortTime(note.createdAt)].filter(Boolean).join(" · "))));
      }
      status.textContent = "";
    } catch (error) {
      status.textContent = describeChatError(error);
    }
  };
  const text = h("textarea", { rows: 3, dir: "auto", maxlength: 4000 });
  const save = h("button", { type: "submit", class: "button small primary" }, t("Add note"));
  const form = h("form", { class: "tool-form" }, field(t("New note"), text), save);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!text.value.trim()) { text.focus(); return; }
    save.disabled = true;
    try {
      await addNote(conv.id, siteId, text.value.trim());
      text.value = "";
      await load();
    } catch (error) {
      status.textContent = describeChatError(error);
    }
    save.disabled = false;
  });
  return panel(t("Private notes"), h("div", { class: "tool-body" },
    h("p", { class: "hint" }, t("Only counsellors of this site can read these notes. The young person cannot.")),
    list, status, form), load);
}

export function absencePanel() {
  const status = h("p", { class: "tool-status", role: "status", "aria-live": "polite" });
  const until = h("input", { type: "datetime-local" });
  const save = h("button", { type: "submit", class: "button small primary" }, t("Save"));
  const back = h("button", { type: "button", class: "button small" }, t("I am back"));
  const form = h("form", { class: "tool-form" },
    h("p", { class: "hint" }, t("Young people in your conversations see when you are back.")),
    field(t("Away until"), until), h("div", { class: "confirm-actions" }, save, back));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!until.value) { until.focus(); return; }
    try {
      await setAbsence(new Date(until.value));
      status.textContent = t("Saved: you are away until {time}.", { time: longTime(new Date(until.value)) });
    } catch (error) {
      status.textContent = describeChatError(error);
    }
  });
  back.addEventListener("click", async () => {
    try {
      await setAbsence(null);
      until.value = "";
      status.textContent = t("Saved: you are available.");
    } catch (error) {
      status.textContent = describeChatError(error);
    }
  });
  return panel(t("Absence notice"), h("div", { class: "tool-body" }, form, status), () => {});
}
