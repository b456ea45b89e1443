// One row of a conversation list (young people's and counsellors'): who, what, last activity,
// unread count. Built with textContent only.

import { h } from "../ui/dom.js";
import { t, tn } from "../i18n/i18n.js";
import { languageName, shortTime, topicName } from "./format.js";

export function statusLabel(status) {
  switch (status) {
    case "waiting": return t("Waiting for a counsellor");
    case "active": return t("Open");
    case "closed": return t("Closed");
    default: return status || "";
  }
}

export function conversationRow(conv, { counsellorView = false } = {}) {
  const s = conv.summary || {};
  const unread = s.unread || 0;
  let name;
  if (counsellorView) name = s.young_person ? s.young_person.nickname : t("Account deleted");
  else name = s.counsellor ? s.counsellor.display_name : (s.site ? s.site.name : t("Counselling"));
  const titleId = `conv-${conv.id}-title`;
  const unreadText = unread ? tn("{n} unread message", "{n} unread messages", unread) : "";
  return h("li", { class: "conv-row", dataset: { id: conv.id, status: s.status || "" } },
    h("a", { href: `#/c/${encodeURIComponent(conv.id)}`, class: "conv-link", "aria-describedby": `${titleId}-meta` },
      h("span", { class: "conv-avatar", "aria-hidden": "true" }, initial(name)),
      h("span", { class: "conv-main" },
        h("span", { class: "conv-name", id: titleId }, h("span", { dir: "auto" }, name)),
        h("span", { class: "conv-meta", id: `${titleId}-meta` },
          [topicName(s.topic), languageName(s.language), statusLabel(s.status)].filter(Boolean).join(" · ")),
      ),
      h("span", { class: "conv-side" },
        h("time", { class: "conv-time", datetime: s.last_activity_at || "" }, shortTime(s.last_activity_at || s.created_at)),
        unread ? h("span", { class: "badge", "aria-label": unreadText, title: unreadText }, String(unread)) : null,
      ),
    ),
  );
}

function initial(name) {
  const first = [...String(name || "?").trim()][0] || "?";
  return first.toLocaleUpperCase();
}
