// A counsellor's conversations: open and waiting ones of their sites, unread counts, last
// activity, search by nickname; their absence notice.

import { h, clear } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { listConversations, onAnyChange } from "../../chat/store.js";
import { primeTopicNames } from "../../chat/format.js";
import { conversationRow } from "../../chat/list-item.js";
import { absencePanel } from "../../chat/tools.js";
import { connectionBanner, describeChatError, requireAccount, viewScope, newId } from "../../chat/ui.js";
import "../../chat/landing.js";

export const path = "/counsellor/conversations";
export const title = () => t("My conversations");

export async function render(container) {
  const heading = t("My conversations");
  const account = await requireAccount(container, heading, { counsellor: true });
  if (!account) return;
  const searchId = newId("search");
  const search = h("input", { id: searchId, type: "search", dir: "auto", autocomplete: "off", spellcheck: "false" });
  const list = h("ul", { class: "conv-list", "aria-labelledby": "cc-open-title" });
  const closedList = h("ul", { class: "conv-list", "aria-labelledby": "cc-closed-title" });
  const closedSection = h("details", { class: "conv-section closed-section" },
    h("summary", { id: "cc-closed-title" }, t("Closed conversations")), closedList);
  const empty = h("p", { class: "notice", hidden: true });
  const live = h("p", { class: "visually-hidden", "aria-live": "polite" });
  const root = h("section", { class: "chat-page" },
    h("div", { class: "page-head" },
      h("h1", { id: "cc-title" }, heading),
      h("a", { class: "button", href: "#/queue" }, t("Waiting enquiries"))),
    h("div", { class: "field search-field" }, h("label", { for: searchId }, t("Search by nickname")), search),
    h("h2", { id: "cc-open-title" }, t("Open conversations")),
    empty, list, closedSection, live,
    h("div", { class: "tools" }, absencePanel()));
  container.append(root);
  const scope = viewScope(container, root);
  root.insertBefore(connectionBanner(scope), root.children[1]);

  await primeTopicNames();
  let convs = [];
  const matches = (conv) => {
    const q = search.value.trim().toLocaleLowerCase();
    if (!q) return true;
    const nick = conv.summary.young_person ? conv.summary.young_person.nickname : "";
    return nick.toLocaleLowerCase().includes(q);
  };
  const draw = () => {
    clear(list);
    clear(closedList);
    const sorted = [...convs].filter(matches).sort((a, b) => (b.summary.unread || 0) - (a.summary.unread || 0)
      || String(b.summary.last_activity_at || "").localeCompare(String(a.summary.last_activity_at || "")));
    for (const conv of sorted) (conv.summary.status === "closed" ? closedList : list).append(conversationRow(conv, { counsellorView: true }));
    const open = list.children.length;
    empty.hidden = open > 0;
    empty.textContent = search.value.trim() ? t("No conversation matches this nickname.") : t("You have no open conversations. Take one from the waiting enquiries.");
    closedSection.hidden = !closedList.children.length;
  };
  search.addEventListener("input", draw);
  try {
    convs = (await listConversations()).filter((c) => c.summary.status !== "waiting");
  } catch (error) {
    root.append(h("p", { class: "error-box", role: "alert" }, describeChatError(error)));
    return;
  }
  if (!scope.alive) return;
  draw();
  for (const conv of convs) if (conv.summary.status === "active") conv.join().catch(() => {});
  scope.add(onAnyChange((event) => {
    if (!event.conversation || !convs.includes(event.conversation)) return;
    if (event.type !== "summary" && event.type !== "messages") return;
    draw();
    if (event.type === "messages" && event.added && event.added.some((m) => !m.mine && m.kind === "message")) live.textContent = t("New message");
  }));
}
