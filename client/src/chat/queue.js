// The counsellors' live queue: waiting enquiries of their sites (queue.list, then queue.added /
// queue.removed in every open tab). The first message of each enquiry is decrypted here: the
// site private key (sealed to me, checked against the site certificate) opens the epoch key
// share sealed to the site, which opens the envelope.

import * as sock from "../net/socket.js";
import { openEnvelope } from "../crypto/protocol.js";
import { directionOf } from "../i18n/bidi.js";
import { epochKeysOf, notePeople, openShares, signingKeyResolver } from "./keys.js";
import { conversation } from "./store.js";
import { claimWithFreshEpoch, installSiteKeyFreshness } from "./site-key-cache.js";

const items = new Map(); // conversation_id -> entry
const listeners = new Set();
let installed = false;
let loaded = null;

function emit(event) {
  for (const fn of listeners) {
    try { fn(event); } catch (error) { console.error(error); }
  }
}

/** fn({type: "added"|"removed"|"updated"|"reset", entry}) */
export function onQueueChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function queueEntries() {
  return [...items.values()].sort((a, b) => (b.item.urgent ? 1 : 0) - (a.item.urgent ? 1 : 0) || a.createdMs - b.createdMs);
}

async function decryptFirst(item) {
  notePeople({ ...item, site: { id: item.site_id } });
  await openShares(item.conversation_id, item.site_id, (item.epoch_keys || []).map((k) => ({ ...k })));
  // Handed over without the earlier messages (issue #6): there is no first message to show.
  if (!item.first_message) return "";
  const opened = await openEnvelope(item.first_message, {
    conversationId: item.conversation_id,
    epochKeys: epochKeysOf(item.conversation_id),
    resolveSigningKey: signingKeyResolver(item.site_id),
  });
  return opened.message.type === "text" ? opened.message.body : "";
}

async function addItem(item) {
  const entry = {
    id: item.conversation_id,
    item,
    receivedAt: Date.now(),
    waitingAtReceipt: Number(item.waiting_seconds) || 0,
    createdMs: Date.parse(item.created_at || "") || Date.now(),
    text: null,
    dir: "auto",
    error: null,
    removed: null, // {reason, by_display_name}
  };
  items.set(entry.id, entry);
  try {
    entry.text = await decryptFirst(item);
    entry.dir = directionOf(entry.text);
  } catch (error) {
    console.warn("queue item could not be opened", entry.id, error.code || error);
    entry.error = error.code || "bad_message";
  }
  return entry;
}

/** Seconds the enquiry has waited, ticking (independent of the two clocks' difference). */
export function waitingSeconds(entry) {
  return entry.waitingAtReceipt + (Date.now() - entry.receivedAt) / 1000;
}

function install() {
  if (installed) return;
  installed = true;
  installSiteKeyFreshness(); // issue #3: drop cached site keys on `site.keys_changed`
  sock.on("queue.added", async (event) => {
    if (!event || !event.item || items.has(event.item.conversation_id)) return;
    const entry = await addItem(event.item);
    emit({ type: "added", entry });
  });
  sock.on("queue.removed", (event) => {
    const entry = items.get(event && event.conversation_id);
    if (!entry) return;
    entry.removed = { reason: event.reason, by: event.by_display_name || null };
    emit({ type: "removed", entry });
  });
  // After a reconnect the list may have changed while we were away: load it again.
  sock.onConnected(async () => {
    if (loaded) await reload().catch(() => {});
  });
}

async function reload() {
  const ack = await sock.request("queue.list", {}, { retries: 2 });
  const fresh = new Set();
  for (const item of ack.items || []) {
    fresh.add(item.conversation_id);
    if (!items.has(item.conversation_id)) await addItem(item);
    else {
      const entry = items.get(item.conversation_id);
      entry.item = item;
      entry.waitingAtReceipt = Number(item.waiting_seconds) || 0;
      entry.receivedAt = Date.now();
    }
  }
  for (const [id, entry] of items) {
    if (!fresh.has(id) && !entry.removed) entry.removed = { reason: "claimed", by: null };
  }
  emit({ type: "reset" });
}

/** Load the queue once (later calls reuse it; live events keep it current). */
export function loadQueue() {
  install();
  if (!loaded) {
    loaded = reload();
    loaded.catch(() => { loaded = null; });
  }
  return loaded;
}

/** Logged out: forget the queue and the decrypted first messages. */
export function resetQueue() {
  items.clear();
  loaded = null;
}

export function forget(id) {
  items.delete(id);
}

/**
 * Take an enquiry. Only one counsellor wins; the others get `already_taken`. No personal key
 * share (`sealed_for_me`) is sent: epoch keys live here only as non-extractable CryptoKeys, so
 * this counsellor reads the conversation through the site key (as every colleague could).
 * Resolves with the conversation; rejects with a SocketError (`already_taken`,
 * `limit_reached`, ...).
 */
export async function claim(id) {
  const entry = items.get(id);
  const payload = { conversation_id: id };
  // Issue #3: a new epoch when the server asks for one (site-key-cache.js).
  const ack = await claimWithFreshEpoch(payload);
  if (entry) entry.removed = { reason: "claimed_by_me", by: null };
  const conv = conversation(id);
  conv.setSummary(ack.conversation);
  emit({ type: "removed", entry });
  return conv;
}
