// The counsellors' live queue: waiting enquiries of their sites with topic, language, waiting
// time (ticking) and the decrypted first message; filters; "Take it". New enquiries appear
// without reloading (queue.added) in every open tab; when a colleague is faster the card says
// so at once (queue.removed) and then leaves.

import { h } from "../dom.js";
import { t, tn } from "../../i18n/i18n.js";
import { claim, loadQueue, onQueueChange, queueEntries, waitingSeconds, forget } from "../../chat/queue.js";
import { duration, languageName, primeTopicNames, topicName, loadTopics } from "../../chat/format.js";
import { connectionBanner, describeChatError, requireAccount, unreadableText, viewScope, newId } from "../../chat/ui.js";
import "../../chat/landing.js";

export const path = "/queue";
export const title = () => t("Waiting enquiries");

const REMOVED_VISIBLE_MS = 6000;

export async function render(container, ctx) {
  const heading = t("Waiting enquiries");
  const account = await requireAccount(container, heading, { counsellor: true });
  if (!account) return;

  const langId = newId("qlang");
  const topicId = newId("qtopic");
  const langFilter = h("select", { id: langId }, h("option", { value: "" }, t("All languages")));
  const topicFilter = h("select", { id: topicId }, h("option", { value: "" }, t("All topics")));
  const filters = h("div", { class: "filters", role: "group", "aria-label": t("Filter") },
    h("div", { class: "field" }, h("label", { for: langId }, t("Language")), langFilter),
    h("div", { class: "field" }, h("label", { for: topicId }, t("Topic")), topicFilter));
  const count = h("p", { class: "queue-count", "aria-live": "polite" });
  const list = h("ul", { class: "queue-list", "aria-labelledby": "queue-title" });
  const announcer = h("p", { class: "visually-hidden", "aria-live": "polite" });
  const alert = h("div", { role: "alert", class: "queue-alert" });
  const root = h("section", { class: "chat-page queue-page" },
    h("div", { class: "page-head" },
      h("h1", { id: "queue-title" }, heading),
      h("a", { class: "button", href: "#/counsellor/conversations" }, t("My conversations"))),
    filters, count, alert, list, announcer);
  container.append(root);
  const scope = viewScope(container, root);
  root.insertBefore(connectionBanner(scope), filters);

  await primeTopicNames();
  try {
    for (const topic of await loadTopics()) topicFilter.append(h("option", { value: topic.key }, topic.name));
  } catch { /* topics stay unfiltered */ }

  const cards = new Map(); // id -> {li, time, button, state}

  function card(entry) {
    const item = entry.item;
    const time = h("span", { class: "q-wait" });
    const takeLabel = t("Take it");
    const button = h("button", { type: "button", class: "button primary small take", "aria-describedby": `q-${entry.id}-meta` }, takeLabel);
    const state = h("p", { class: "q-state", "aria-live": "polite" });
    const message = entry.error
      ? h("p", { class: "q-text unreadable" }, unreadableText(entry.error))
      : h("p", { class: "q-text", dir: entry.dir }, entry.text || "");
    const li = h("li", { class: "q-card", dataset: { id: entry.id, language: item.language || "", topic: item.topic || "" } },
      h("div", { class: "q-head" },
        h("p", { class: "q-who", dir: "auto" }, item.nickname || t("Young person")),
        item.urgent ? h("span", { class: "tag urgent" }, t("Urgent")) : null,
        time),
      h("p", { class: "q-meta", id: `q-${entry.id}-meta` },
        [topicName(item.topic), languageName(item.language), item.handover_from ? t("handed over by {site}", { site: item.handover_from.site_name }) : ""].filter(Boolean).join(" · ")),
      message,
      h("div", { class: "q-actions" }, button, state));
    button.addEventListener("click", () => take(entry, button, state));
    const c = { li, time, button, state, entry };
    tick(c);
    return c;
  }

  function tick(c) {
    const secs = waitingSeconds(c.entry);
    c.time.textContent = secs < 60 ? t("waiting less than a minute") : t("waiting {duration}", { duration: duration(secs) });
  }

  async function take(entry, button, state) {
    button.disabled = true;
    state.textContent = t("Taking…");
    try {
      const conv = await claim(entry.id);
      forget(entry.id);
      ctx.navigate(`/c/${encodeURIComponent(conv.id)}`);
    } catch (error) {
      button.disabled = false;
      if (error.code === "already_taken") {
        markRemoved(entry.id, { reason: "claimed", by: null });
      } else {
        state.textContent = "";
        alert.replaceChildren(h("p", { class: "error-box" }, describeChatError(error)));
      }
    }
  }

  function markRemoved(id, removed) {
    const c = cards.get(id);
    if (!c || c.li.dataset.removed) return;
    c.li.dataset.removed = "true";
    c.button.disabled = true;
    c.button.hidden = true;
    let text;
    if (removed.reason === "claimed") text = removed.by ? t("Taken by {name}.", { name: removed.by }) : t("Taken by a colleague.");
    else if (removed.reason === "closed") text = t("The young person closed this enquiry.");
    else if (removed.reason === "claimed_by_me") text = t("You took this enquiry.");
    else text = t("Handed over to another team.");
    c.state.textContent = text;
    announcer.textContent = text;
    scope.timeout(() => {
      c.li.remove();
      cards.delete(id);
      forget(id);
      updateCount();
    }, REMOVED_VISIBLE_MS);
  }

  function visible(entry) {
    return (!langFilter.value || entry.item.language === langFilter.value)
      && (!topicFilter.value || entry.item.topic === topicFilter.value);
  }

  function updateCount() {
    const n = [...cards.values()].filter((c) => !c.li.dataset.removed && !c.li.hidden).length;
    count.textContent = n ? tn("{n} enquiry is waiting.", "{n} enquiries are waiting.", n) : t("Nobody is waiting right now.");
  }

  function draw() {
    const entries = queueEntries();
    // Languages present in the queue become filter options (named in my language).
    const langs = new Set(entries.map((e) => e.item.language).filter(Boolean));
    for (const code of langs) {
      if (![...langFilter.options].some((o) => o.value === code)) langFilter.append(h("option", { value: code }, languageName(code)));
    }
    let prev = null;
    for (const entry of entries) {
      let c = cards.get(entry.id);
      if (!c) { c = card(entry); cards.set(entry.id, c); }
      c.li.hidden = !visible(entry);
      const expected = prev ? prev.nextSibling : list.firstChild;
      if (expected !== c.li) list.insertBefore(c.li, expected);
      prev = c.li;
      if (entry.removed) markRemoved(entry.id, entry.removed);
    }
    updateCount();
  }

  langFilter.addEventListener("change", draw);
  topicFilter.addEventListener("change", draw);
  scope.interval(() => { for (const c of cards.values()) tick(c); }, 15000);
  scope.add(onQueueChange((event) => {
    if (!scope.alive) return;
    if (event.type === "added") {
      draw();
      announcer.textContent = t("New enquiry: {topic}, {language}.", { topic: topicName(event.entry.item.topic), language: languageName(event.entry.item.language) });
    } else if (event.type === "removed" && event.entry) {
      markRemoved(event.entry.id, event.entry.removed);
    } else draw();
  }));

  list.setAttribute("aria-busy", "true");
  try {
    await loadQueue();
  } catch (error) {
    alert.replaceChildren(h("p", { class: "error-box" }, describeChatError(error)));
  }
  list.setAttribute("aria-busy", "false");
  if (scope.alive) draw();
}

