// Moderation in a conversation (issue #8; docs/socket-events.md, "Moderation").
//
// Counsellors: a "Block or report" panel among the conversation tools — block the young
// person's account from THIS conversation (a reason category; the conversation closes for
// them), report the account to the team lead (reason + an optional note sealed to the site key,
// like private notes), lift a block.
// Young people: when the conversation was ended by a block they see a NEUTRAL notice only
// ("This conversation has ended…") — never that they were blocked or reported — and no composer.
// That state comes from the system events: the newest of `ended` / `reopened` decides.

import * as sock from "../net/socket.js";
import { h, clear } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { b64urlDecode, b64urlEncode, encodeStruct, openSealed, seal, utf8Decode, utf8Encode } from "../crypto/protocol.js";
import { directionOf } from "../i18n/bidi.js";
import { siteCertificates, siteKey } from "./keys.js";
import { describeChatError, newId } from "./ui.js";
import { longTime } from "./format.js";

export const REASONS = ["harassment", "sexual_content", "threats", "hate", "spam", "other"];

export function reasonLabel(reason) {
  switch (reason) {
    case "harassment": return t("Harassment or insults");
    case "sexual_content": return t("Sexual content");
    case "threats": return t("Threats");
    case "hate": return t("Hate or discrimination");
    case "spam": return t("Spam or trolling");
    default: return t("Other reason");
  }
}

// --- the young person's side --------------------------------------------------------------------

/** Did the newest `ended` / `reopened` system event say "ended"? */
export function isEnded(conv) {
  let last = null;
  for (const msg of conv.sorted()) {
    const code = msg.kind === "system" && msg.system ? msg.system.code : null;
    if (code === "ended" || code === "reopened") last = code;
  }
  return last === "ended";
}

/**
 * Keep `root` marked while the conversation is ended by a block: the composer and the "write to
 * open it again" hint disappear (CSS), a notice appears in `notices` — for the young person a
 * neutral one with a link to a new enquiry, for counsellors where to lift the block.
 * Returns an unsubscribe function.
 */
export function endedNotice(conv, { root, notices, counsellor = false }) {
  const notice = counsellor
    ? h("div", { class: "notice ended-notice", role: "status" },
      h("p", {}, t("The young person can no longer write in this conversation. You can lift the block under “Block or report”.")))
    : h("div", { class: "notice ended-notice", role: "status" },
      h("p", {}, t("This conversation has ended. If you need help, you can start a new enquiry.")),
      h("p", {}, h("a", { class: "button small primary", href: "#/enquiry/new" }, t("Start a new enquiry"))));
  const update = () => {
    const ended = isEnded(conv);
    root.classList.toggle("conv-ended", ended);
    if (ended && !notice.isConnected) notices.append(notice);
    if (!ended && notice.isConnected) notice.remove();
  };
  update();
  return conv.subscribe((event) => { if (event.type === "messages" || event.type === "joined") update(); });
}

// --- report notes: sealed to the site key (protocol section 6, label jmdchat/v1/report-note) ----

const reportAad = (conversationId, siteId, kv) => encodeStruct("jmdchat/v1/report-note", conversationId, siteId, kv);

async function newestSiteCert(siteId) {
  const certs = await siteCertificates(siteId);
  if (!certs.length) throw new Error("no certified site key");
  const active = certs.filter((c) => c.active !== false);
  return (active.length ? active : certs).reduce((a, b) => (b.version > a.version ? b : a));
}

export async function sealReportNote(conversationId, siteId, text) {
  const { version, cert } = await newestSiteCert(siteId);
  const content = { type: "report", body: text, at: Date.now() };
  const box = await seal(cert.x25519Public, utf8Encode(JSON.stringify(content)), reportAad(conversationId, siteId, version));
  const sealed = b64urlEncode(utf8Encode(JSON.stringify({ v: 1, site_id: siteId, kv: version, box: b64urlEncode(box) })));
  return { sealed, version };
}

/** The text of a report's note, or null; throws when this device cannot open it. */
export async function openReportNote(report) {
  if (!report.sealed_note || !report.conversation_id) return null;
  const outer = JSON.parse(utf8Decode(b64urlDecode(report.sealed_note)));
  if (outer.site_id !== report.site_id) throw new Error("note of another site");
  const opened = await siteKey(outer.site_id, outer.kv);
  if (!opened) throw new Error("site key not available");
  const plain = await openSealed(opened.keys.x25519, b64urlDecode(outer.box), reportAad(report.conversation_id, outer.site_id, outer.kv));
  const content = JSON.parse(utf8Decode(plain));
  return { text: String(content.body || ""), dir: directionOf(String(content.body || "")) };
}

// --- requests -----------------------------------------------------------------------------------

export const blockYoungPerson = (conversationId, reason) => sock.request("moderation.block", { conversation_id: conversationId, reason });
export const unblockYoungPerson = (conversationId) => sock.request("moderation.unblock", { conversation_id: conversationId });
export const moderationStatus = (conversationId) => sock.request("moderation.status", { conversation_id: conversationId }, { retries: 1 });

export async function reportYoungPerson(conversationId, siteId, reason, note) {
  const payload = { conversation_id: conversationId, reason };
  if (note && note.trim()) {
    const { sealed, version } = await sealReportNote(conversationId, siteId, note.trim());
    payload.sealed_note = sealed;
    payload.site_key_version = version;
  }
  return sock.request("moderation.report", payload);
}

// --- the counsellor's panel ---------------------------------------------------------------------

function reasonSelect() {
  const select = h("select", { class: "reason-select" });
  for (const reason of REASONS) select.append(h("option", { value: reason }, reasonLabel(reason)));
  return select;
}

function field(label, control) {
  control.id = control.id || newId("mod");
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
}

/** The "Block or report" tool under a conversation (counsellors of the conversation's site). */
export function moderationPanel(conv) {
  const status = h("p", { class: "tool-status", role: "status", "aria-live": "polite" });
  const state = h("div", { class: "moderation-state" });
  const blockReason = reasonSelect();
  const blockButton = h("button", { type: "button", class: "button small danger", dataset: { action: "block" } }, t("Block from this conversation"));
  const unblockButton = h("button", { type: "button", class: "button small", dataset: { action: "unblock" }, hidden: true }, t("Lift the block"));
  const reportReason = reasonSelect();
  const reportNote = h("textarea", { rows: 3, dir: "auto", maxlength: 2000, class: "report-note" });
  reportNote.addEventListener("input", () => { reportNote.dir = reportNote.value.trim() ? directionOf(reportNote.value) : "auto"; });
  const reportButton = h("button", { type: "submit", class: "button small" }, t("Report to the team lead"));
  const blockField = field(t("Reason"), blockReason);

  const draw = (info) => {
    clear(state);
    const blocked = info && info.block;
    blockField.hidden = Boolean(blocked);
    blockButton.hidden = Boolean(blocked);
    unblockButton.hidden = !blocked;
    if (blocked) {
      state.append(h("p", { class: "notice moderation-blocked" },
        t("Blocked from this conversation since {time} ({reason}). The young person only sees that the conversation has ended.",
          { time: longTime(blocked.created_at), reason: reasonLabel(blocked.reason) })));
    }
    const reports = (info && info.reports) || [];
    if (reports.length) {
      state.append(h("ul", { class: "moderation-reports" }, ...reports.map((r) =>
        h("li", {}, t("Reported on {time}: {reason}", { time: longTime(r.created_at), reason: reasonLabel(r.reason) })))));
    }
  };
  const load = async () => {
    try { draw(await moderationStatus(conv.id)); status.textContent = ""; } catch (error) { status.textContent = describeChatError(error); }
  };

  blockButton.addEventListener("click", () => {
    const confirmBox = h("div", { class: "confirm", role: "group" },
      h("p", {}, t("Block this young person from this conversation? They can no longer write here and only see that the conversation has ended. They can still start a new enquiry.")));
    const yes = h("button", { type: "button", class: "button small danger", dataset: { action: "confirm-block" } }, t("Block"));
    const no = h("button", { type: "button", class: "button small" }, t("Cancel"));
    confirmBox.append(h("div", { class: "confirm-actions" }, yes, no));
    blockButton.after(confirmBox);
    no.focus();
    no.addEventListener("click", () => { confirmBox.remove(); blockButton.focus(); });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        const ack = await blockYoungPerson(conv.id, blockReason.value);
        if (ack.conversation) conv.setSummary(ack.conversation);
        confirmBox.remove();
        status.textContent = t("Blocked. The team lead can lift the block.");
        await load();
      } catch (error) {
        confirmBox.replaceChildren(h("p", { class: "error-box", role: "alert" }, describeChatError(error)));
      }
    });
  });
  unblockButton.addEventListener("click", async () => {
    unblockButton.disabled = true;
    try {
      const ack = await unblockYoungPerson(conv.id);
      if (ack.conversation) conv.setSummary(ack.conversation);
      status.textContent = t("The block was lifted.");
      await load();
    } catch (error) {
      status.textContent = describeChatError(error);
    }
    unblockButton.disabled = false;
  });
  const reportForm = h("form", { class: "tool-form report-form" },
    field(t("Reason"), reportReason),
    field(t("Note for the team lead (optional, encrypted for your team)"), reportNote), reportButton);
  reportForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    reportButton.disabled = true;
    try {
      await reportYoungPerson(conv.id, conv.siteId, reportReason.value, reportNote.value);
      reportNote.value = "";
      status.textContent = t("Reported. The team lead will look at it.");
      await load();
    } catch (error) {
      status.textContent = describeChatError(error);
    }
    reportButton.disabled = false;
  });

  const details = h("details", { class: "tool moderation-tool" }, h("summary", {}, t("Block or report")),
    h("div", { class: "tool-body" },
      h("p", { class: "hint" }, t("For abuse only. The young person is not told that they were blocked or reported.")),
      state,
      h("div", { class: "tool-form" }, blockField, h("div", { class: "confirm-actions" }, blockButton, unblockButton)),
      h("h3", { class: "tool-subtitle" }, t("Report")),
      reportForm, status));
  let loaded = false;
  details.addEventListener("toggle", () => { if (details.open && !loaded) { loaded = true; load(); } });
  return details;
}
