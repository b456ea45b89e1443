// Handover of a conversation (issue #6; docs/socket-events.md "Handover", docs/protocol.md 8.7).
//
// Young people: a consent card when a counsellor proposes another team. It shows the team's
// address and opening hours and asks whether the new team may read the earlier messages. On
// "yes" this browser starts a new key epoch (sealed to the young person and the new team's
// certified key) and, only if allowed, re-seals the keys of the earlier epochs to the new team.
// The server never sees a key it could open. "No" leaves everything as it is.
// Counsellors: a "Hand over" tool — to a colleague of the site (or back to the site's queue),
// or to another team found in the site directory, with a note sealed to that team's key.
// Everything the card shows comes from the server's state (`handover.pending`), so it survives
// reloads and reconnects.

import * as sock from "../net/socket.js";
import { h, clear } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import {
  b64urlEncode, encodeStruct, importConversationKey, newConversationKey, resealConversationKey,
  seal, sealConversationKey, utf8Encode,
} from "../crypto/protocol.js";
import { directionOf } from "../i18n/bidi.js";
import {
  decodeShare, myIdentity, noteFormerCounsellors, rememberEpochKey, signingKeyResolver, verifySiteCertificate,
} from "./keys.js";
import { addNote } from "./counsellor.js";
import { describeChatError, newId } from "./ui.js";
import { languageList, longTime, shippedLanguages, uiTag } from "./format.js";

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

// --- shared pieces ------------------------------------------------------------------------------

function weekdayName(day) {
  // 1 January 2024 was a Monday.
  const date = new Date(Date.UTC(2024, 0, 1 + WEEKDAYS.indexOf(day)));
  return new Intl.DateTimeFormat(uiTag(), { weekday: "long", timeZone: "UTC" }).format(date);
}

/** Opening hours {"mon": [["09:00", "17:00"]], ...} as a list, one line per day. */
export function openingHoursList(hours) {
  const list = h("ul", { class: "handover-hours" });
  for (const day of WEEKDAYS) {
    const ranges = hours && Array.isArray(hours[day]) ? hours[day] : [];
    const text = ranges.filter((r) => Array.isArray(r) && r.length === 2)
      .map(([from, to]) => t("{from}–{to}", { from, to })).join(", ");
    if (text) list.append(h("li", {}, h("span", { class: "handover-day" }, weekdayName(day)), " ", h("bdi", {}, text)));
  }
  return list.childElementCount ? list : h("p", { class: "hint" }, t("No opening hours published."));
}

/** Name, address and contact of a site (public directory data). */
export function siteAddress(site) {
  const lines = [
    h("p", { class: "handover-site-name" }, site.name),
    site.street ? h("p", {}, site.street) : null,
    site.postcode || site.city ? h("p", {}, [site.postcode, site.city].filter(Boolean).join(" ")) : null,
    site.phone ? h("p", {}, t("Phone: {phone}", { phone: site.phone })) : null,
    site.email ? h("p", {}, t("E-mail: {email}", { email: site.email })) : null,
    site.website ? h("p", {}, t("Website: {url}", { url: site.website })) : null,
  ];
  return h("address", { class: "handover-address" }, ...lines);
}

// --- the young person's consent ----------------------------------------------------------------

/** A key share as the server stores it, or null. */
function shareOf(entry) {
  try { return decodeShare(entry.sealed); } catch { return null; }
}

/**
 * Consent: verify the new team's certified key, start epoch n+1, re-seal earlier epochs only
 * with `allowHistory`, send `handover.accept`. Returns the ack.
 */
export async function acceptHandover(conv, proposal, allowHistory) {
  const { account, identity } = await myIdentity();
  const site = proposal.to_site;
  const cert = await verifySiteCertificate(site.id, proposal.site_key);
  const siteKeyVersion = cert.keyVersion;
  // My own shares of every epoch so far (the join ack lists what is sealed to me).
  const joined = await sock.request("conversation.join", { conversation_id: conv.id, after_seq: conv.lastSeq ?? 0 }, { retries: 1 });
  const current = joined.conversation.current_epoch;
  const epoch = current + 1;
  const raw = newConversationKey();
  let epochKeys;
  let newKey;
  try {
    epochKeys = [
      { recipient: "self", sealed: await sealConversationKey({ conversationId: conv.id, epoch, key: raw, recipientX25519Public: identity.x25519.publicKey, senderId: account.id, signer: identity }) },
      { recipient: "site", site_key_version: siteKeyVersion, sealed: await sealConversationKey({ conversationId: conv.id, epoch, key: raw, recipientX25519Public: cert.x25519Public, senderId: account.id, signer: identity }) },
    ];
    newKey = await importConversationKey(raw);
  } finally {
    raw.fill(0);
  }
  const historyKeys = [];
  if (allowHistory) {
    const resolveSigningKey = signingKeyResolver(conv.siteId);
    const mine = new Map();
    for (const entry of joined.keys || []) {
      if (entry.recipient !== "self" || mine.has(entry.epoch)) continue;
      const share = shareOf(entry);
      if (share) mine.set(entry.epoch, share);
    }
    for (let e = 1; e <= current; e++) {
      const share = mine.get(e);
      if (!share) throw Object.assign(new Error("missing epoch key"), { code: "unknown_epoch" });
      historyKeys.push({ epoch: e, sealed: await resealConversationKey(share, {
        conversationId: conv.id, recipient: identity, resolveSigningKey,
        recipientX25519Public: cert.x25519Public, senderId: account.id, signer: identity,
      }) });
    }
  }
  const ack = await sock.request("handover.accept", {
    proposal_id: proposal.id, allow_history: Boolean(allowHistory), epoch_keys: epochKeys, history_keys: historyKeys,
  });
  rememberEpochKey(conv.id, epoch, newKey);
  conv.setSummary(ack.conversation);
  conv.join().catch(() => {});
  return ack;
}

function consentCard(conv, proposal, { onDone }) {
  const site = proposal.to_site;
  const titleId = newId("handover-title");
  const choiceName = newId("handover-history");
  const yesHistory = h("input", { type: "radio", name: choiceName, value: "all", checked: true, id: `${choiceName}-all` });
  const noHistory = h("input", { type: "radio", name: choiceName, value: "new", id: `${choiceName}-new` });
  const agree = h("button", { type: "button", class: "button primary", dataset: { action: "accept" } }, t("Yes, move my conversation"));
  const decline = h("button", { type: "button", class: "button", dataset: { action: "decline" } }, t("No, stay here"));
  const status = h("p", { class: "handover-status", role: "status", "aria-live": "polite" });
  const card = h("section", { class: "handover-card handover-consent", "aria-labelledby": titleId, dataset: { proposal: proposal.id } },
    h("h2", { id: titleId }, t("Move your conversation to {site}?", { site: site.name })),
    h("p", {}, t("{from} suggests that {site} continues your conversation. Nothing changes unless you agree.", { from: proposal.from_site.name, site: site.name })),
    h("div", { class: "handover-site" }, siteAddress(site),
      h("h3", {}, t("Opening hours")), openingHoursList(site.opening_hours),
      site.languages && site.languages.length ? h("p", { class: "hint" }, t("Languages: {languages}", { languages: languageList(site.languages) })) : null),
    h("fieldset", { class: "handover-choice" },
      h("legend", {}, t("May the new team read your earlier messages?")),
      h("div", { class: "handover-option" }, yesHistory, h("label", { for: yesHistory.id }, t("Yes, they may read our earlier messages"))),
      h("div", { class: "handover-option" }, noHistory, h("label", { for: noHistory.id }, t("No, only what I write from now on")))),
    h("p", { class: "hint" }, t("This offer is open until {time}.", { time: longTime(proposal.expires_at) })),
    h("div", { class: "confirm-actions" }, agree, decline),
    status);
  const busy = (value) => { agree.disabled = value; decline.disabled = value; };
  agree.addEventListener("click", async () => {
    busy(true);
    status.textContent = t("Moving your conversation…");
    try {
      await acceptHandover(conv, proposal, yesHistory.checked);
      onDone("accepted", proposal);
    } catch (error) {
      status.textContent = describeChatError(error);
      busy(false);
    }
  });
  decline.addEventListener("click", async () => {
    busy(true);
    try {
      await sock.request("handover.decline", { proposal_id: proposal.id });
      onDone("declined", proposal);
    } catch (error) {
      status.textContent = describeChatError(error);
      busy(false);
    }
  });
  return card;
}

function movedCard(site) {
  const titleId = newId("handover-moved");
  return h("section", { class: "handover-card handover-moved", "aria-labelledby": titleId, role: "status" },
    h("h2", { id: titleId }, t("Your conversation is now with {site}", { site: site.name })),
    h("p", {}, t("You can also visit them in person:")),
    siteAddress(site), h("h3", {}, t("Opening hours")), openingHoursList(site.opening_hours));
}

/**
 * The young person's side in the conversation view: shows a pending proposal (also after a
 * reload or reconnect) and the new team's address after the move. Returns a cleanup function.
 */
export function handoverConsent(conv, { notices }) {
  let card = null;
  let shownId = null;
  const show = (proposal) => {
    if (!proposal || proposal.conversation_id !== conv.id) return;
    if (proposal.status !== "pending") return;
    if (shownId === proposal.id && card && card.isConnected) return;
    if (card) card.remove();
    shownId = proposal.id;
    card = consentCard(conv, proposal, {
      onDone: (outcome, decided) => {
        if (card) card.remove();
        card = null;
        if (outcome === "accepted") notices.append(movedCard(decided.to_site));
      },
    });
    notices.append(card);
  };
  const refresh = async () => {
    try {
      const ack = await sock.request("handover.pending", { conversation_id: conv.id }, { retries: 1 });
      if (ack.proposal) show(ack.proposal);
      else if (card) { card.remove(); card = null; }
    } catch { /* not visible: nothing to show */ }
  };
  refresh();
  const offProposed = sock.on("handover.proposed", (event) => {
    if (event && event.conversation_id === conv.id) show(event.proposal);
  });
  const offDecided = sock.on("handover.decided", (event) => {
    if (!event || event.conversation_id !== conv.id || !card) return;
    if (event.proposal && event.proposal.id === shownId) { card.remove(); card = null; }
  });
  const offConnected = sock.onConnected(refresh);
  return () => {
    for (const off of [offProposed, offDecided, offConnected]) if (typeof off === "function") off();
    if (card) card.remove();
  };
}

// --- the counsellor's side ---------------------------------------------------------------------

/** Before the first join: learn the counsellors who wrote before the conversation was handed
 * over to this site, so their earlier messages can be verified (never fails the view). */
export async function trustFormerCounsellors(conv) {
  try {
    const ack = await sock.request("handover.former", { conversation_id: conv.id }, { retries: 1 });
    noteFormerCounsellors(ack.items);
  } catch { /* not handed over, or not ours: nothing to learn */ }
}

// --- the counsellor's tool ---------------------------------------------------------------------

function field(label, control) {
  control.id = control.id || newId("handover");
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
}

/** The note for the new team: sealed to its verified key, bound to this conversation and team
 * (the same format as private notes, so it appears among the new team's notes). */
async function sealNoteFor(conv, site, text) {
  const cert = await verifySiteCertificate(site.id, site.site_key);
  const { account } = await myIdentity();
  const kv = cert.keyVersion;
  const content = { type: "note", body: text, author: account.display_name || account.nickname, at: Date.now() };
  const box = await seal(cert.x25519Public, utf8Encode(JSON.stringify(content)),
    encodeStruct("jmdchat/v1/site-note", conv.id, site.id, kv));
  const sealed = b64urlEncode(utf8Encode(JSON.stringify({ v: 1, site_id: site.id, kv, box: b64urlEncode(box) })));
  return { sealed, kv };
}

function colleagueForm(conv, account) {
  const status = h("p", { class: "tool-status", role: "status", "aria-live": "polite" });
  const select = h("select", { name: "colleague" }, h("option", { value: "" }, t("Back to the site's queue")));
  const note = h("textarea", { rows: 3, dir: "auto", maxlength: 4000, name: "colleague-note" });
  note.addEventListener("input", () => { note.dir = note.value.trim() ? directionOf(note.value) : "auto"; });
  const submit = h("button", { type: "submit", class: "button small primary" }, t("Hand over"));
  const form = h("form", { class: "tool-form handover-colleague" },
    field(t("Hand over to"), select), field(t("Note for the team (optional)"), note), submit, status);
  const load = async () => {
    try {
      const ack = await sock.request("handover.colleagues", { conversation_id: conv.id }, { retries: 1 });
      for (const c of ack.items || []) select.append(h("option", { value: c.id }, c.display_name));
    } catch (error) {
      status.textContent = describeChatError(error);
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      if (note.value.trim()) await addNote(conv.id, conv.siteId, note.value.trim());
      const assigned = conv.summary && conv.summary.counsellor && conv.summary.counsellor.id === account.id;
      const ack = await sock.request(assigned ? "handover.colleague" : "handover.reassign", {
        conversation_id: conv.id, to_account_id: select.value || null,
      });
      conv.setSummary(ack.conversation);
      note.value = "";
      status.textContent = select.value
        ? t("Handed over to {name}.", { name: select.selectedOptions[0].textContent })
        : t("The conversation is back in the site's queue.");
    } catch (error) {
      status.textContent = describeChatError(error);
    }
    submit.disabled = false;
  });
  return { form, load };
}

function siteForm(conv) {
  const status = h("p", { class: "tool-status", role: "status", "aria-live": "polite" });
  const query = h("input", { type: "search", name: "site-query", maxlength: 80, dir: "auto", autocomplete: "off" });
  const language = h("select", { name: "site-language" }, h("option", { value: "" }, t("Any language")));
  for (const lang of shippedLanguages()) language.append(h("option", { value: lang.code, lang: lang.tag, dir: lang.dir }, lang.name));
  const search = h("button", { type: "button", class: "button small" }, t("Search"));
  const results = h("fieldset", { class: "handover-results", hidden: true }, h("legend", {}, t("Choose a team")));
  const note = h("textarea", { rows: 3, dir: "auto", maxlength: 4000, name: "site-note" });
  note.addEventListener("input", () => { note.dir = note.value.trim() ? directionOf(note.value) : "auto"; });
  const submit = h("button", { type: "submit", class: "button small primary" }, t("Propose the move"));
  const pending = h("div", { class: "handover-pending" });
  const form = h("form", { class: "tool-form handover-site-form" },
    h("p", { class: "hint" }, t("The young person decides: nothing moves until they agree.")),
    field(t("Name, city or postcode"), query), field(t("Language"), language), search, results,
    field(t("Handover note for the new team (optional)"), note), submit, status, pending);
  let found = [];
  const radioName = newId("handover-site");
  const runSearch = async () => {
    status.textContent = t("Loading…");
    try {
      const ack = await sock.request("handover.sites", { query: query.value.trim() || null, language: language.value || null });
      found = (ack.items || []).filter((s) => s.id !== conv.siteId && s.site_key);
      for (const old of [...results.querySelectorAll(".handover-result")]) old.remove();
      for (const site of found) {
        const radio = h("input", { type: "radio", name: radioName, value: site.id, id: newId("site") });
        results.append(h("div", { class: "handover-result" }, radio,
          h("label", { for: radio.id }, [site.name, [site.postcode, site.city].filter(Boolean).join(" ")].filter(Boolean).join(", "))));
      }
      results.hidden = false;
      status.textContent = found.length ? "" : t("No team found.");
    } catch (error) {
      status.textContent = describeChatError(error);
    }
  };
  search.addEventListener("click", runSearch);
  query.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); runSearch(); } });
  const showPending = (proposal) => {
    clear(pending);
    if (proposal && proposal.status === "pending") {
      pending.append(h("p", { class: "notice" }, t("Proposed: {site}. Waiting for the young person's answer (until {time}).", { site: proposal.to_site.name, time: longTime(proposal.expires_at) })));
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = results.querySelector("input:checked");
    const site = chosen && found.find((s) => s.id === chosen.value);
    if (!site) { status.textContent = t("Please choose a team."); query.focus(); return; }
    submit.disabled = true;
    try {
      const payload = { conversation_id: conv.id, to_site_id: site.id };
      if (note.value.trim()) {
        const { sealed, kv } = await sealNoteFor(conv, site, note.value.trim());
        payload.sealed_note = sealed;
        payload.note_site_key_version = kv;
      }
      const ack = await sock.request("handover.propose", payload);
      note.value = "";
      status.textContent = t("The young person has been asked.");
      showPending(ack.proposal);
    } catch (error) {
      status.textContent = describeChatError(error);
    }
    submit.disabled = false;
  });
  const load = async () => {
    try {
      const ack = await sock.request("handover.pending", { conversation_id: conv.id }, { retries: 1 });
      showPending(ack.proposal);
    } catch { /* nothing pending */ }
  };
  const offDecided = sock.on("handover.decided", (event) => {
    if (!event || event.conversation_id !== conv.id) return;
    clear(pending);
    if (event.proposal && event.proposal.status === "declined") {
      pending.append(h("p", { class: "notice" }, t("The young person did not agree. The conversation stays here.")));
    }
  });
  return { form, load, cleanup: offDecided };
}

/** The counsellor's "Hand over" tool (a <details> among the conversation tools). */
export function handoverTool(conv, account) {
  const colleague = colleagueForm(conv, account);
  const other = siteForm(conv);
  const body = h("div", { class: "tool-body" },
    h("h3", {}, t("To a colleague")), colleague.form,
    h("h3", {}, t("To another team")), other.form);
  const details = h("details", { class: "tool handover-tool" }, h("summary", {}, t("Hand over")), body);
  let loaded = false;
  details.addEventListener("toggle", () => {
    if (details.open && !loaded) { loaded = true; colleague.load(); other.load(); }
  });
  details.cleanup = other.cleanup;
  return details;
}

/** Hook for the conversation view: the young person's consent card, or the counsellor's tool
 * (appended to `tools`). Returns a cleanup function. */
export function handoverView(conv, { notices, tools, counsellorView, account }) {
  if (!counsellorView) return handoverConsent(conv, { notices });
  const tool = handoverTool(conv, account);
  tools.append(tool);
  return () => { if (typeof tool.cleanup === "function") tool.cleanup(); };
}
