// A young person's conversations: open ones first, unread counts, a new enquiry.

import { h, clear } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { listConversations, onAnyChange } from "../../chat/store.js";
import { primeTopicNames } from "../../chat/format.js";
import { conversationRow } from "../../chat/list-item.js";
import { connectionBanner, describeChatError, requireAccount, viewScope } from "../../chat/ui.js";
import { takeLandingFlag } from "../../chat/landing.js";

export const path = "/conversations";
export const title = () => t("My conversations");

export async function render(container, ctx) {
  const heading = t("My conversations");
  const account = await requireAccount(container, heading);
  if (!account) return;
  const landing = takeLandingFlag();
  const list = h("ul", { class: "conv-list", "aria-labelledby": "convs-title" });
  const closedList = h("ul", { class: "conv-list", "aria-labelledby": "convs-closed-title" });
  const closedSection = h("section", { class: "conv-section", hidden: true },
    h("h2", { id: "convs-closed-title" }, t("Closed conversations")), closedList);
  const empty = h("p", { class: "notice", hidden: true }, t("You have no conversations yet."));
  const live = h("p", { class: "visually-hidden", "aria-live": "polite" });
  const root = h("section", { class: "chat-page" },
    h("div", { class: "page-head" },
      h("h1", { id: "convs-title" }, heading),
      h("a", { class: "button primary", href: "#/enquiry/new" }, t("New message")),
    ),
    empty, list, closedSection, live,
  );
  container.append(root);
  const scope = viewScope(container, root);
  root.prepend(connectionBanner(scope));

  await primeTopicNames();
  let convs = [];
  const draw = () => {
    clear(list);
    clear(closedList);
    const sorted = [...convs].sort((a, b) => String(b.summary.last_activity_at || "").localeCompare(String(a.summary.last_activity_at || "")));
    for (const conv of sorted) (conv.summary.status === "closed" ? closedList : list).append(conversationRow(conv));
    closedSection.hidden = !closedList.children.length;
    empty.hidden = convs.length > 0;
  };
  try {
    convs = await listConversations();
  } catch (error) {
    root.append(h("p", { class: "error-box", role: "alert" }, describeChatError(error)));
    return;
  }
  if (!scope.alive) return;
  if (!convs.length && landing) {
    ctx.navigate("/enquiry/new");
    return;
  }
  draw();
  // Live: join the open ones (nothing is fetched but what is new) to see new messages arrive.
  for (const conv of convs) if (conv.summary.status !== "closed") conv.join().catch(() => {});
  scope.add(onAnyChange((event) => {
    if (event.type !== "summary" && event.type !== "messages") return;
    if (!convs.includes(event.conversation)) return;
    draw();
    if (event.type === "messages" && event.added && event.added.some((m) => !m.mine)) live.textContent = t("New message");
  }));
}
