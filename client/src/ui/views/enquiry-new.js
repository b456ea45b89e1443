// New enquiry: topic, language, optional postcode or town, first message. Where it goes is
// decided by the server's routing (GET /api/route); the message is encrypted for that site's
// certified key before anything is sent (src/chat/enquiry.js).

import { h } from "../dom.js";
import { t, locale } from "../../i18n/i18n.js";
import { directionOf } from "../../i18n/bidi.js";
import { findRoute, prepareEnquiry, sendEnquiry } from "../../chat/enquiry.js";
import { isStaleSiteKey } from "../../chat/site-key-cache.js";
import { loadTopics, shippedLanguages } from "../../chat/format.js";
import { describeChatError, requireAccount, newId } from "../../chat/ui.js";
import { formStatus, setBusy } from "../../account/ui.js";
import "../../chat/landing.js";

export const path = "/enquiry/new";
export const title = () => t("New message to a counsellor");

const MAX_LENGTH = 4000;

function labelled(id, label, control, hint = null) {
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { id: hintId, class: "hint" }, hint) : null,
    control,
  );
}

export async function render(container, ctx) {
  const heading = t("New message to a counsellor");
  const account = await requireAccount(container, heading);
  if (!account) return;

  const status = formStatus();
  const topicId = newId("topic");
  const topic = h("select", { id: topicId, name: "topic", required: true },
    h("option", { value: "" }, t("Please choose")));
  const languageId = newId("language");
  const language = h("select", { id: languageId, name: "language" });
  for (const lang of shippedLanguages()) {
    language.append(h("option", { value: lang.code, lang: lang.tag, dir: lang.dir, selected: lang.code === locale() }, lang.name));
  }
  const placeId = newId("place");
  const place = h("input", { id: placeId, name: "location", type: "text", autocomplete: "postal-code", dir: "auto", maxlength: 80, spellcheck: "false" });
  const textId = newId("text");
  const text = h("textarea", { id: textId, name: "text", rows: 6, required: true, dir: "auto", maxlength: MAX_LENGTH, class: "enquiry-text" });
  text.addEventListener("input", () => { text.dir = text.value.trim() ? directionOf(text.value) : "auto"; });
  const submit = h("button", { type: "submit", class: "button primary" }, t("Send encrypted"));

  const form = h("form", { class: "card enquiry-form", novalidate: true, "aria-labelledby": "enquiry-title" },
    labelled(topicId, t("What is it about?"), topic),
    labelled(languageId, t("In which language would you like to write?"), language,
      t("We look for counsellors who speak this language.")),
    labelled(placeId, t("Postcode or town (optional)"), place,
      t("So that a counselling site near you answers. Only the first two digits are stored.")),
    labelled(textId, t("Your message"), text,
      t("Write what is on your mind. Only the counsellors of the site can read it: it is encrypted on your phone.")),
    status.root,
    h("div", { class: "actions" }, submit),
  );
  container.append(
    h("section", { class: "chat-page" },
      h("h1", { id: "enquiry-title" }, heading),
      h("p", { class: "lead-small" }, t("A counsellor of the Youth Migration Services will answer you here. You can stay anonymous.")),
      form,
      h("p", {}, h("a", { href: "#/conversations" }, t("My conversations"))),
    ),
  );

  try {
    for (const item of await loadTopics()) topic.append(h("option", { value: item.key }, item.name));
  } catch (error) {
    status.error(describeChatError(error));
  }

  let prepared = null; // kept after a failed send: a retry sends the very same payload
  let preparedFor = "";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    if (!topic.value) { status.error(t("Please choose a topic.")); topic.focus(); return; }
    const body = text.value.trim();
    if (!body) { status.error(t("Please write your message.")); text.focus(); return; }
    const key = JSON.stringify([topic.value, language.value, place.value.trim(), body]);
    setBusy(form, true);
    try {
      if (!prepared || preparedFor !== key) {
        status.progress(t("Finding the right counselling site…"));
        const route = await findRoute({ location: place.value.trim(), language: language.value, topic: topic.value });
        status.progress(t("Encrypting your message…"));
        prepared = await prepareEnquiry({ route, topic: topic.value, language: language.value, location: place.value.trim(), text: body });
        preparedFor = key;
      }
      status.progress(t("Sending…"));
      let conv;
      try {
        conv = await sendEnquiry(prepared);
      } catch (error) {
        if (!isStaleSiteKey(error)) throw error;
        // Issue #3: the team's key changed meanwhile. Ask for the route and key again, encrypt
        // again (a new conversation id: nothing was stored) and send once more.
        const route = await findRoute({ location: place.value.trim(), language: language.value, topic: topic.value });
        prepared = await prepareEnquiry({ route, topic: topic.value, language: language.value, location: place.value.trim(), text: body });
        conv = await sendEnquiry(prepared);
      }
      prepared = null;
      ctx.navigate(`/c/${encodeURIComponent(conv.id)}`);
    } catch (error) {
      // Keep the encrypted payload only for a plain retry (lost answer, offline): a new route or
      // a refused key means encrypting again.
      if (!error.transient && error.code !== "offline" && error.code !== "timeout") prepared = null;
      status.error(describeChatError(error));
    } finally {
      if (form.isConnected) setBusy(form, false);
    }
  });
}
