// Chat rounds: upcoming group chats in the young person's language (or all languages), and for
// counsellors their sites' rounds plus a form to schedule one (docs/socket-events.md).

import { h, clear } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { api } from "../../net/api.js";
import { languageName, shippedLanguages } from "../../chat/format.js";
import { describeChatError, isCounsellor, requireAccount, viewScope } from "../../chat/ui.js";
import { placesText, roundLine, roundStateText } from "../../rounds/format.js";

export const path = "/rounds";
export const title = () => t("Chat rounds");

function roundItem(round) {
  const mine = round.my_state === "waiting" || round.my_state === "admitted";
  return h("li", { class: "round-item card", dataset: { roundId: round.id } },
    h("h2", { class: "round-topic", dir: "auto" }, round.topic),
    h("p", { class: "round-meta" }, roundLine(round)),
    h("p", { class: "round-meta" }, t("{team} · {places}", { team: round.site.name, places: placesText(round) })),
    h("p", { class: "round-state" }, roundStateText(round)),
    h("a", { class: mine ? "button primary" : "button", href: `#/round/${round.id}` },
      mine ? t("Go to the chat round") : t("Take part")),
  );
}

function scheduleForm(account, onDone) {
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const site = h("select", { id: "round-site", name: "site" },
    ...(account.sites || []).map((s) => h("option", { value: s.id }, s.name)));
  const topic = h("input", { id: "round-topic", name: "topic", required: true, minlength: 2, maxlength: 120, dir: "auto" });
  const language = h("select", { id: "round-language", name: "language" },
    ...shippedLanguages().map((l) => h("option", { value: l.code, selected: l.code === account.locale }, languageName(l.code))));
  const start = h("input", { id: "round-start", name: "start", type: "datetime-local", required: true });
  const minutes = h("input", { id: "round-minutes", name: "minutes", type: "number", min: 15, max: 480, value: 60, required: true });
  const max = h("input", { id: "round-max", name: "max", type: "number", min: 1, max: 50, value: 8, required: true });
  const field = (id, label, input) => h("p", { class: "field" }, h("label", { for: id }, label), input);
  const form = h("form", { class: "card round-schedule", "aria-labelledby": "round-schedule-title" },
    h("h2", { id: "round-schedule-title" }, t("Schedule a chat round")),
    field("round-site", t("Team"), site),
    field("round-topic", t("Topic"), topic),
    field("round-language", t("Language"), language),
    field("round-start", t("Start"), start),
    field("round-minutes", t("Duration in minutes"), minutes),
    field("round-max", t("Maximum number of young people"), max),
    h("button", { class: "button primary", type: "submit" }, t("Schedule")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const when = new Date(start.value);
    if (Number.isNaN(when.getTime())) {
      status.textContent = t("Please enter a start time.");
      return;
    }
    try {
      await api.post("/api/rounds", {
        site_id: site.value, topic: topic.value, language: language.value,
        starts_at: when.toISOString(), duration_minutes: Number(minutes.value),
        max_participants: Number(max.value),
      });
      status.textContent = t("The chat round is scheduled.");
      topic.value = "";
      onDone();
    } catch (error) {
      status.textContent = describeChatError(error);
    }
  });
  return form;
}

export async function render(container) {
  const heading = t("Chat rounds");
  const account = await requireAccount(container, heading);
  if (!account) return;
  const counsellor = isCounsellor(account);
  const list = h("ul", { class: "round-list", "aria-labelledby": "rounds-title" });
  const empty = h("p", { class: "notice", hidden: true }, t("There are no chat rounds coming up."));
  const filter = h("select", { id: "rounds-filter" },
    h("option", { value: "mine" }, t("In my language")),
    h("option", { value: "all" }, t("All languages")));
  const root = h("section", { class: "rounds-page" },
    h("h1", { id: "rounds-title" }, heading),
    h("p", {}, t("Chat rounds are group chats on one topic at a set time, with counsellors. Others see only your nickname.")),
    counsellor ? null : h("p", { class: "field" }, h("label", { for: "rounds-filter" }, t("Show")), filter),
    empty, list);
  container.append(root);
  const scope = viewScope(container, root);
  const load = async () => {
    try {
      const query = counsellor || filter.value === "all" ? "?all=1" : "";
      const data = await api.get(`/api/rounds${query}`);
      if (!scope.alive) return;
      clear(list);
      for (const round of data.items) list.append(roundItem(round));
      empty.hidden = data.items.length > 0;
    } catch (error) {
      list.replaceChildren(h("li", { class: "error-box", role: "alert" }, describeChatError(error)));
    }
  };
  filter.addEventListener("change", load);
  if (counsellor && account.role !== "admin") root.append(scheduleForm(account, load));
  await load();
}
