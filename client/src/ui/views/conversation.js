// One conversation, for young people and counsellors alike: messages with their delivery state
// (sending → sent → read), each bubble in its own text direction, typing indicator, older pages
// on demand, a composer that works offline (the outbox), the counsellor's absence notice,
// closing. Counsellors also get canned responses, private notes and their absence setting.
//
// New messages are appended; history is never reloaded. Message text goes through textContent
// only (a link stays plain text).

import { h, clear } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { directionOf } from "../../i18n/bidi.js";
import { conversation, ensureSummary } from "../../chat/store.js";
import {
  expectedAnswerText, languageName, longTime, primeTopicNames, queuePositionText, routeReasonText, shortTime,
  siteLine, systemEventText, topicName,
} from "../../chat/format.js";
import {
  connectionBanner, describeChatError, isCounsellor, requireAccount, unreadableText, viewScope,
} from "../../chat/ui.js";
import { counsellorTools } from "../../chat/tools.js";
import { endedNotice } from "../../chat/moderation.js";
import { handoverView, trustFormerCounsellors } from "../../chat/handover.js";
import { statusLabel } from "../../chat/list-item.js";

export const path = "/c/:id";
export const title = () => t("Conversation");

const TYPING_IDLE_MS = 3000;
const TYPING_REFRESH_MS = 4000;

function stateText(state) {
  switch (state) {
    case "sending": return t("Sending…");
    case "sent": return t("Sent");
    case "read": return t("Read");
    case "failed": return t("Not sent");
    default: return "";
  }
}

// Decorative SVG icons (aria-hidden): the state is always written out as text as well.
function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  el.append(...children);
  return el;
}

const STROKE = { fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" };
const STATE_PATHS = {
  sending: ["M10 4.5V7l1.8 1.2"],
  sent: ["M4 7.5l3.5 3.5L15 3.5"],
  read: ["M1.5 7.5L5 11l7.5-7.5", "M8 10l1 1 7.5-7.5"],
  failed: ["M10 3v5M10 11v.5"],
};

function stateIcon(state) {
  const icon = svg("svg", { viewBox: "0 0 20 14", width: "18", height: "13", "aria-hidden": "true", focusable: "false", class: "state-icon" },
    ...(STATE_PATHS[state] || []).map((d) => svg("path", { d, ...STROKE })));
  if (state === "sending") icon.prepend(svg("circle", { cx: "10", cy: "7", r: "5", ...STROKE, "stroke-width": "1.8" }));
  return icon;
}

function sendIcon() {
  return svg("svg", { viewBox: "0 0 24 24", width: "22", height: "22", "aria-hidden": "true", focusable: "false", class: "send-icon" },
    svg("path", { d: "M4 12l16-8-6 16-2.5-6.5z", fill: "currentColor" }));
}

export async function render(container, ctx) {
  const heading = t("Conversation");
  const account = await requireAccount(container, heading);
  if (!account) return;
  const counsellorView = isCounsellor(account);
  const id = ctx.params.id;

  // --- skeleton ------------------------------------------------------------------------------
  // The name keeps its own direction (<bdi>-like span); the heading follows the page.
  const titleEl = h("span", { dir: "auto" }, heading);
  const titleH1 = h("h1", { id: "conv-title", class: "chat-title" }, titleEl);
  const subtitle = h("p", { class: "chat-subtitle" });
  const backHref = counsellorView ? "#/counsellor/conversations" : "#/conversations";
  const back = h("a", { class: "chat-back", href: backHref },
    h("span", { class: "chat-back-arrow", "aria-hidden": "true" }), h("span", { class: "visually-hidden" }, t("Back to the list")));
  const closeButton = h("button", { type: "button", class: "link-button subtle-link" }, t("Close conversation"));
  const head = h("header", { class: "chat-head" }, back,
    h("span", { class: "conv-avatar", "aria-hidden": "true" }), h("div", { class: "chat-head-text" }, titleH1, subtitle));
  const notices = h("div", { class: "chat-notices" });
  const waiting = h("section", { class: "waiting-card", hidden: true, "aria-live": "polite", "aria-labelledby": "waiting-title" });
  const earlier = h("button", { type: "button", class: "button small load-earlier", hidden: true }, t("Load earlier messages"));
  const messagesList = h("ol", { class: "messages" });
  const log = h("div", {
    class: "chat-log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-labelledby": "conv-title",
    tabindex: "0", "aria-busy": "true",
  }, earlier, messagesList);
  const typingLine = h("p", { class: "typing", "aria-live": "polite" });
  const textareaId = `composer-${id}`;
  const textarea = h("textarea", {
    id: textareaId, class: "composer-input", rows: 1, dir: "auto", maxlength: 4000, autocomplete: "off",
    placeholder: t("Write a message"),
  });
  const sendButton = h("button", { type: "submit", class: "composer-send" },
    sendIcon(), h("span", { class: "visually-hidden" }, t("Send")));
  const composerStatus = h("p", { class: "composer-status", role: "status", "aria-live": "polite" });
  const composer = h("form", { class: "composer", "aria-label": t("Write a message") },
    h("label", { class: "visually-hidden", for: textareaId }, t("Your message")),
    textarea, sendButton);
  const tools = h("div", { class: "chat-tools" });
  // Sent before the conversation is loaded (a fast thumb on a slow phone): kept in order and
  // sent once it is; the text leaves the composer at once, as after every send.
  const early = [];
  let sendText = null;
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textarea.value;
    if (!text.trim()) return;
    textarea.value = "";
    textarea.dir = "auto";
    if (sendText) sendText(text);
    else early.push(text);
  });
  const root = h("section", { class: "chat-view", dataset: { role: counsellorView ? "counsellor" : "young" } },
    head, notices, waiting, log, typingLine, composerStatus, composer,
    h("div", { class: "chat-actions" }, closeButton), tools);
  container.append(root);
  const scope = viewScope(container, root);
  notices.append(connectionBanner(scope));

  // --- data ---------------------------------------------------------------------------------
  await primeTopicNames();
  let conv;
  try {
    conv = await ensureSummary(id);
  } catch (error) {
    textarea.value = early.splice(0).join("\n"); // nothing typed is lost
    notices.append(h("p", { class: "error-box", role: "alert" }, describeChatError(error)));
    return;
  }
  if (!scope.alive) return;

  const elements = new Map(); // message key -> li
  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const scrollToEnd = () => { log.scrollTop = log.scrollHeight; };

  function nameOf(senderId) {
    const s = conv.summary || {};
    if (s.counsellor && s.counsellor.id === senderId) return s.counsellor.display_name;
    if (s.young_person && s.young_person.id === senderId) return s.young_person.nickname;
    return "";
  }

  function buildMessage(msg) {
    if (msg.kind === "system") {
      return h("li", { class: "msg system", dataset: { key: msg.key, seq: msg.seq ?? "" } },
        h("p", { class: "system-text" }, systemEventText(msg.system, {
          myRole: counsellorView ? "counsellor" : "young_person",
          names: conv.summary && conv.summary.counsellor ? { [conv.summary.counsellor.id]: conv.summary.counsellor.display_name } : {},
        }),
          " ", h("time", { datetime: msg.createdAt || "" }, shortTime(msg.createdAt))));
    }
    const li = h("li", { class: `msg ${msg.mine ? "mine" : "theirs"}`, dataset: { key: msg.key, mid: msg.mid || "" } });
    updateMessage(li, msg);
    return li;
  }

  function updateMessage(li, msg) {
    const state = conv.deliveryState(msg);
    li.dataset.seq = msg.seq ?? "";
    if (state) li.dataset.state = state; else delete li.dataset.state;
    const held = state === "sending" && msg.held ? msg.held : null; // kept, sent again by itself
    if (held) li.dataset.held = held.code; else delete li.dataset.held;
    const who = msg.mine ? t("You") : (nameOf(msg.senderId) || t("Counsellor"));
    const textEl = msg.error
      ? h("p", { class: "msg-text unreadable" }, unreadableText(msg.error))
      : h("p", { class: "msg-text" }, msg.text);
    // Time and ticks follow the page's direction, whatever the message's direction is.
    const meta = h("p", { class: "msg-meta", dir: document.documentElement.dir || "ltr" },
      h("span", { class: "visually-hidden" }, `${who}, `),
      h("time", { datetime: msg.createdAt || "" }, shortTime(msg.createdAt)),
      state ? h("span", { class: "msg-state", dataset: { state } }, stateIcon(state), h("span", { class: state === "failed" ? "" : "visually-hidden" }, stateText(state))) : null,
    );
    const bubble = h("div", { class: "msg-bubble", dir: msg.error ? "auto" : msg.dir }, textEl, meta);
    const parts = [bubble];
    if (held) parts.push(h("p", { class: "msg-held", role: "status" }, held.message));
    if (state === "failed") {
      const retry = h("button", { type: "button", class: "link-button" }, t("Try again"));
      retry.addEventListener("click", () => conv.retry(msg.mid));
      const discard = h("button", { type: "button", class: "link-button" }, t("Delete"));
      discard.addEventListener("click", () => conv.discard(msg.mid));
      parts.push(h("p", { class: "msg-failed" }, msg.failed && msg.failed.message ? `${msg.failed.message} ` : "", retry, " ", discard));
    }
    li.replaceChildren(...parts);
  }

  // Put every message element in order; new ones are created, moved ones moved, nothing rebuilt.
  function reconcile({ older = false } = {}) {
    const stick = nearBottom();
    const prevHeight = log.scrollHeight;
    const prevTop = log.scrollTop;
    let prev = null;
    for (const msg of conv.sorted()) {
      let li = elements.get(msg.key);
      if (!li) {
        li = buildMessage(msg);
        elements.set(msg.key, li);
      }
      const expected = prev ? prev.nextSibling : messagesList.firstChild;
      if (expected !== li) messagesList.insertBefore(li, expected);
      prev = li;
    }
    for (const [key, li] of elements) {
      if (!conv.messages.has(key)) { li.remove(); elements.delete(key); }
    }
    earlier.hidden = !conv.hasMoreBefore;
    if (older) log.scrollTop = prevTop + (log.scrollHeight - prevHeight);
    else if (stick) scrollToEnd();
  }

  function refreshStates() {
    for (const msg of conv.messages.values()) {
      const li = elements.get(msg.key);
      if (li && msg.kind === "message" && msg.mine) {
        const state = conv.deliveryState(msg);
        const held = state === "sending" && msg.held ? msg.held.code : "";
        if (li.dataset.state !== state || li.dataset.seq !== String(msg.seq ?? "") || (li.dataset.held || "") !== held) updateMessage(li, msg);
      }
    }
  }

  function drawHead() {
    const s = conv.summary || {};
    clear(subtitle);
    if (counsellorView) {
      titleEl.textContent = s.young_person ? s.young_person.nickname : t("Account deleted");
      subtitle.append([topicName(s.topic), languageName(s.language), statusLabel(s.status)].filter(Boolean).join(" · "));
    } else {
      titleEl.textContent = s.counsellor ? s.counsellor.display_name : (s.site ? s.site.name : heading);
      subtitle.append([s.site ? s.site.name : "", topicName(s.topic), statusLabel(s.status)].filter(Boolean).join(" · "));
    }
    // Colleague rule (docs/security.md): counsellors close only what they hold; site leads
    // may close their site's conversations (the server decides; this only hides the button).
    const mayClose = !counsellorView || account.role === "site_lead" || (s.counsellor && s.counsellor.id === account.id);
    closeButton.hidden = s.status === "closed" || !mayClose;
    const avatar = head.querySelector(".conv-avatar");
    avatar.textContent = ([...String(titleEl.textContent || "?").trim()][0] || "?").toLocaleUpperCase();
    document.title = `${titleEl.textContent} · jmdchat`;
    // Absence notice of the counsellor (both sides see it).
    const absent = s.counsellor && s.counsellor.absent_until && Date.parse(s.counsellor.absent_until) > Date.now();
    let absence = notices.querySelector(".absence-notice");
    if (absent) {
      const text = counsellorView
        ? t("You are marked as away until {time}.", { time: longTime(s.counsellor.absent_until) })
        : t("{name} is away until {time}. Your messages will be read after that; in an emergency call 112.", { name: s.counsellor.display_name, time: longTime(s.counsellor.absent_until) });
      if (!absence) { absence = h("p", { class: "notice absence-notice" }); notices.append(absence); }
      absence.textContent = text;
    } else if (absence) absence.remove();
    let closedNote = notices.querySelector(".closed-notice");
    if (s.status === "closed") {
      if (!closedNote) {
        closedNote = h("p", { class: "notice closed-notice" }, counsellorView
          ? t("This conversation is closed. It opens again when the young person writes.")
          : t("This conversation is closed. Write a new message to open it again."));
        notices.append(closedNote);
      }
    } else if (closedNote) closedNote.remove();
    drawWaiting();
  }

  function drawWaiting() {
    const s = conv.summary || {};
    const show = !counsellorView && s.status === "waiting";
    waiting.hidden = !show;
    if (!show) return;
    const parts = [
      h("h2", { id: "waiting-title" }, t("Your message has arrived")),
      s.site ? h("p", { class: "waiting-site" }, siteLine(s.site)) : null,
      s.route_reason ? h("p", { class: "hint" }, routeReasonText(s.route_reason, s.site)) : null,
    ];
    const position = queuePositionText(s.queue_position);
    if (position) parts.push(h("p", { class: "waiting-position" }, position));
    const expected = expectedAnswerText(s.expected_answer);
    if (expected) parts.push(h("p", { class: "waiting-expected" }, expected));
    parts.push(h("p", { class: "hint" }, t("You can close this page: the answer waits for you here, and you can log in again at any time.")));
    waiting.replaceChildren(...parts);
  }

  function drawTyping() {
    const people = conv.typingPeople();
    if (!people.length) { typingLine.textContent = ""; typingLine.classList.remove("active"); return; }
    const name = nameOf(people[0]) || (counsellorView ? t("The young person") : t("The counsellor"));
    typingLine.classList.add("active");
    typingLine.replaceChildren(h("span", { class: "dots", "aria-hidden": "true" }, h("span"), h("span"), h("span")),
      t("{name} is typing…", { name }));
  }

  function markReadIfVisible() {
    if (document.visibilityState === "visible" && scope.alive) conv.markRead();
  }

  scope.add(conv.subscribe((event) => {
    if (!scope.alive) return;
    if (event.type === "messages") {
      reconcile({ older: Boolean(event.older) });
      refreshStates(); // sending → sent (acked), failed, retried
      if (event.added && event.added.some((m) => !m.mine)) markReadIfVisible();
      if (event.sent) scrollToEnd();
    } else if (event.type === "read") refreshStates();
    else if (event.type === "typing") drawTyping();
    else if (event.type === "summary") drawHead();
    else if (event.type === "keys" && event.error) {
      composerStatus.textContent = describeChatError(event.error);
    }
  }));
  scope.listen(document, "visibilitychange", markReadIfVisible);

  drawHead();
  reconcile();
  // Ended by a block (issue #8): a notice instead of the composer (neutral for the young person).
  scope.add(endedNotice(conv, { root, notices, counsellor: counsellorView }));
  // Handover (issue #6): who signed the earlier messages of a conversation handed over to us.
  if (counsellorView) await trustFormerCounsellors(conv);
  try {
    await conv.join();
    if (!scope.alive) return;
    if (conv.messages.size < 15 && conv.hasMoreBefore) await conv.loadEarlier();
  } catch (error) {
    notices.append(h("p", { class: "error-box", role: "alert" }, describeChatError(error)));
  }
  if (!scope.alive) return;
  drawHead();
  reconcile();
  scrollToEnd();
  log.setAttribute("aria-busy", "false");
  markReadIfVisible();

  // --- older pages ----------------------------------------------------------------------------
  const loadEarlier = async () => {
    if (!conv.hasMoreBefore || conv.loadingEarlier) return;
    earlier.disabled = true;
    try { await conv.loadEarlier(); } catch (error) { composerStatus.textContent = describeChatError(error); }
    earlier.disabled = false;
    earlier.hidden = !conv.hasMoreBefore;
  };
  earlier.addEventListener("click", loadEarlier);
  scope.listen(log, "scroll", () => { if (log.scrollTop < 40) loadEarlier(); }, { passive: true });

  // --- composer -------------------------------------------------------------------------------
  let typingActive = false;
  let typingSentAt = 0;
  let idleTimer = null;
  const stopTyping = () => {
    clearTimeout(idleTimer);
    if (typingActive) { typingActive = false; conv.sendTyping(false); }
  };
  scope.add(stopTyping);
  const autoGrow = () => {
    textarea.style.blockSize = "auto";
    textarea.style.blockSize = `${Math.min(textarea.scrollHeight, 160)}px`;
  };
  textarea.addEventListener("input", () => {
    textarea.dir = textarea.value.trim() ? directionOf(textarea.value) : "auto";
    autoGrow();
    if (!textarea.value.trim()) { stopTyping(); return; }
    const now = Date.now();
    if (!typingActive || now - typingSentAt > TYPING_REFRESH_MS) {
      typingActive = true;
      typingSentAt = now;
      conv.sendTyping(true);
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
  textarea.addEventListener("blur", stopTyping);
  textarea.addEventListener("keydown", (event) => {
    // Enter sends on a keyboard; Shift+Enter (and Enter on touch screens) makes a new line.
    const fine = window.matchMedia && window.matchMedia("(pointer: fine)").matches;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && (fine || event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  // One after another, so messages typed quickly keep their order (encryption is async).
  let sending = Promise.resolve();
  const sendOne = async (text) => {
    stopTyping();
    composerStatus.textContent = "";
    autoGrow();
    try {
      await conv.send(text);
    } catch (error) {
      // Not sent (no key on this device): the text comes back so nothing typed is lost.
      textarea.value = textarea.value ? `${text}\n${textarea.value}` : text;
      autoGrow();
      composerStatus.textContent = describeChatError(error);
    }
    if (scope.alive) textarea.focus();
  };
  sendText = (text) => { sending = sending.then(() => sendOne(text)); return sending; };
  for (const text of early.splice(0)) sendText(text);

  // --- closing --------------------------------------------------------------------------------
  closeButton.addEventListener("click", () => {
    const confirmBox = h("div", { class: "confirm", role: "group", "aria-labelledby": "close-q" },
      h("p", { id: "close-q" }, counsellorView
        ? t("Close this conversation? It opens again when the young person writes.")
        : t("Close this conversation? You can open it again by writing a new message.")));
    const yes = h("button", { type: "button", class: "button small primary" }, t("Close conversation"));
    const no = h("button", { type: "button", class: "button small" }, t("Cancel"));
    confirmBox.append(h("div", { class: "confirm-actions" }, yes, no));
    notices.append(confirmBox);
    no.focus();
    no.addEventListener("click", () => { confirmBox.remove(); closeButton.focus(); });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await conv.close();
        confirmBox.remove();
        drawHead();
      } catch (error) {
        confirmBox.replaceChildren(h("p", { class: "error-box", role: "alert" }, describeChatError(error)));
      }
    });
  });

  // Handover (issue #6): the young person's consent card, the counsellor's "Hand over" tool.
  scope.add(handoverView(conv, { notices, tools, counsellorView, account }));
  if (counsellorView) {
    tools.append(counsellorTools(conv, { scope, insert: (text) => {
      const start = textarea.selectionStart ?? textarea.value.length;
      textarea.setRangeText(text, start, textarea.selectionEnd ?? start, "end");
      textarea.dispatchEvent(new Event("input"));
      textarea.focus();
    } }));
  }
}

