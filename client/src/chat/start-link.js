// Adapter for the start page (owned by the client shell): when someone is logged in, the start
// page also offers the way into the chat ("My conversations", "New message" or the queue).
// Registered for "/" after the shell's start view, wrapping its render().

import { h } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { currentAccount } from "../account/session.js";
import { isCounsellor } from "./ui.js";

export function wrapStart(start) {
  return {
    ...start,
    async render(container, ctx) {
      await start.render(container, ctx);
      let account = null;
      try { account = await currentAccount(); } catch { account = null; }
      if (!account || !container.isConnected) return;
      const links = isCounsellor(account)
        ? [h("a", { class: "button primary", href: "#/queue" }, t("Waiting enquiries")),
          h("a", { class: "button", href: "#/counsellor/conversations" }, t("My conversations")),
          h("a", { class: "button", href: "#/rounds" }, t("Chat rounds"))]
        : [h("a", { class: "button primary", href: "#/enquiry/new" }, t("New message")),
          h("a", { class: "button", href: "#/conversations" }, t("My conversations")),
          // Chat rounds (issue #9): scheduled group chats in the young person's language.
          h("a", { class: "button", href: "#/rounds" }, t("Chat rounds"))];
      container.prepend(h("section", { class: "card chat-entry", "aria-labelledby": "chat-entry-title" },
        h("h2", { id: "chat-entry-title" }, t("Welcome back, {nickname}", { nickname: account.display_name || account.nickname })),
        h("div", { class: "actions" }, ...links)));
    },
  };
}
