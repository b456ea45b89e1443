// Fresh site keys after a rotation (issue #3, server/services/key_freshness.py,
// docs/protocol.md 7.2 and 8.1).
//
// - `site.keys_changed {site_id, version}` reaches the counsellors of a site whenever a key
//   version is created, sealed to a member or certified: the cached key list and my sealed
//   site keys are dropped and fetched again on their next use (also after every reconnect,
//   since events sent while offline are lost).
// - `stale_site_key`: the server refused something sealed to an old version; callers drop the
//   cache, fetch again and retry once.
// - A claim the server answers with `rekey_required` (somebody who left could read the current
//   epoch) is repeated with a new epoch created HERE: a fresh key sealed to the young person,
//   to me and to the newest certified site key, signed by me. The server never sees the key.

import * as sock from "../net/socket.js";
import {
  b64urlDecode, importConversationKey, newConversationKey, sealConversationKey,
} from "../crypto/protocol.js";
import {
  dropSiteKeyCache, myIdentity, notePeople, rememberEpochKey, signingKeyResolver, siteCertificates,
} from "./keys.js";

const listeners = new Set();
let installed = false;

/** fn({site_id, version}) after the cache of that site was dropped. */
export function onSiteKeysChanged(fn) {
  installSiteKeyFreshness();
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Listen for `site.keys_changed` (idempotent; counsellors' screens call it). */
export function installSiteKeyFreshness() {
  if (installed) return;
  installed = true;
  sock.on("site.keys_changed", (event) => {
    if (!event || typeof event.site_id !== "string") return;
    dropSiteKeyCache(event.site_id);
    for (const fn of listeners) {
      try { fn(event); } catch (error) { console.error(error); }
    }
  });
  sock.onConnected(() => dropSiteKeyCache());
}

export function isStaleSiteKey(error) {
  return Boolean(error) && error.code === "stale_site_key";
}

/** The newest certified (active) version of a site's key, verified against the organisation
 * key: `{version, cert}`. */
export async function newestSiteCertificate(siteId) {
  const certs = await siteCertificates(siteId);
  if (!certs.length) throw Object.assign(new Error("no certified site key"), { code: "no_site_key" });
  const active = certs.filter((c) => c.active);
  return (active.length ? active : certs).reduce((a, b) => (b.version > a.version ? b : a));
}

/** Epoch n+1 of a conversation for `conversation.claim {new_epoch}`. */
async function newEpochForClaim(conversationId) {
  const { account, identity } = await myIdentity();
  // The current epoch and the young person's keys (no messages: after_seq is the maximum).
  const joined = await sock.request("conversation.join", { conversation_id: conversationId, after_seq: 2147483647 }, { retries: 1 });
  const summary = joined.conversation;
  const siteId = summary.site.id;
  notePeople(summary);
  dropSiteKeyCache(siteId); // the server said the keys moved on: never seal to a cached list
  const { version, cert } = await newestSiteCertificate(siteId);
  const young = summary.young_person;
  if (young && young.id) {
    // The young person's signing key must be the one pinned on this device (TOFU, section 11).
    await signingKeyResolver(siteId)(young.id, null);
  }
  const epoch = summary.current_epoch + 1;
  const raw = newConversationKey();
  try {
    const common = { conversationId, epoch, key: raw, senderId: account.id, signer: identity };
    const shares = [
      { recipient: "self", sealed: await sealConversationKey({ ...common, recipientX25519Public: identity.x25519.publicKey }) },
      { recipient: "site", site_key_version: version, sealed: await sealConversationKey({ ...common, recipientX25519Public: cert.x25519Public }) },
    ];
    if (young && young.id && young.x25519_public) {
      shares.push({ recipient: "young_person", sealed: await sealConversationKey({ ...common, recipientX25519Public: b64urlDecode(young.x25519_public, 32) }) });
    }
    return { epoch, siteId, shares, key: await importConversationKey(raw) };
  } finally {
    raw.fill(0);
  }
}

/**
 * `conversation.claim`, starting a new epoch when the server asks for one (`rekey_required`),
 * and once more with freshly fetched site keys after `stale_site_key`. Resolves with the ack.
 */
export async function claimWithFreshEpoch(payload) {
  try {
    return await sock.request("conversation.claim", payload);
  } catch (error) {
    if (error.code !== "rekey_required" && !isStaleSiteKey(error)) throw error;
  }
  for (let attempt = 0; ; attempt += 1) {
    const built = await newEpochForClaim(payload.conversation_id);
    try {
      const ack = await sock.request("conversation.claim", { ...payload, new_epoch: built.shares });
      rememberEpochKey(payload.conversation_id, built.epoch, built.key);
      return ack;
    } catch (error) {
      if (!isStaleSiteKey(error) || attempt >= 1) throw error;
    }
  }
}
