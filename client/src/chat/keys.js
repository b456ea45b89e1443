// Keys for conversations, in memory only (docs/protocol.md sections 6–8):
//
// - this device's identity (adapter from the accounts keystore record to the protocol's
//   `{x25519: {privateKey, publicKey}, ed25519: {...}}` shape);
// - the organisation key (boot data `orgPublicKey`, else GET /api/keys/org) and verified site
//   certificates;
// - site private keys of a counsellor (GET /api/me/site-keys), opened with the identity and
//   checked against the certified public keys (openSiteKey refuses anything else);
// - epoch keys per conversation: unsealed keys are non-extractable AES-GCM CryptoKeys, never
//   raw bytes; the sealed shares come from the server (join ack, queue items);
// - which signing key to trust for which account in a conversation (TOFU for young people,
//   certificates for counsellors).
//
// No plaintext fallback anywhere: every failed check throws.

import { api, segment } from "../net/api.js";
import { currentAccount, identityFor } from "../account/session.js";
import {
  b64urlDecode, b64urlEncode, keyId, openConversationKey, openSiteKey, utf8Decode,
  verifyCertificate, CryptoError,
} from "../crypto/protocol.js";
import { pinnedKey, pinKey } from "./db.js";

export class ChatKeyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ChatKeyError";
    this.code = code;
  }
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// --- identity ------------------------------------------------------------------------------

let identityCache = null; // {accountId, identity}

/** {account, identity} of the logged-in person on this device; throws `no_keys`. */
export async function myIdentity() {
  const account = await currentAccount();
  if (!account) throw new ChatKeyError("unauthorized", "not logged in");
  if (identityCache && identityCache.accountId === account.id) return { account, identity: identityCache.identity };
  const record = await identityFor(account);
  if (!record) throw new ChatKeyError("no_keys", "no keys on this device");
  const identity = {
    x25519: { privateKey: record.x25519Private, publicKey: new Uint8Array(record.x25519Public) },
    ed25519: { privateKey: record.ed25519Private, publicKey: new Uint8Array(record.ed25519Public) },
  };
  identityCache = { accountId: account.id, identity };
  return { account, identity };
}

export function forgetKeys() {
  identityCache = null;
  hints.clear();
  fetchedKeys.clear();
  siteKeys.clear();
  siteKeysLoaded = null;
  epochKeys.clear();
  certCache.clear();
}

// --- organisation key and certificates --------------------------------------------------------

let orgKey = null;

function bootData() {
  try {
    return JSON.parse(document.getElementById("boot").textContent);
  } catch {
    return {};
  }
}

export async function orgPublicKey() {
  if (orgKey) return orgKey;
  let encoded = bootData().orgPublicKey;
  if (!encoded) encoded = (await api.get("/api/keys/org")).public_key;
  orgKey = b64urlDecode(encoded, 32);
  return orgKey;
}

/** A certificate as the server sends it: an object, its JSON text, or base64url(JSON). */
export function certificateObject(value) {
  if (value && typeof value === "object") return value;
  if (typeof value !== "string" || !value) throw new ChatKeyError("bad_certificate", "missing certificate");
  try {
    if (value.trimStart().startsWith("{")) return JSON.parse(value);
    return JSON.parse(utf8Decode(b64urlDecode(value)));
  } catch {
    throw new ChatKeyError("bad_certificate", "certificate is not readable");
  }
}

/** Verify a site certificate against the organisation key; the key the server listed next to
 * it must be the certified one. Returns the parsed certificate. */
export async function verifySiteCertificate(siteId, siteKey) {
  const cert = await verifyCertificate(certificateObject(siteKey.certificate), await orgPublicKey(), nowSeconds(),
    { kind: "site", subject: siteId, siteId });
  if (siteKey.version !== undefined && cert.keyVersion !== siteKey.version) {
    throw new ChatKeyError("site_key_mismatch", "certificate is for another key version");
  }
  for (const [field, certified] of [["x25519_public", cert.x25519Public], ["ed25519_public", cert.ed25519Public]]) {
    if (siteKey[field] && siteKey[field] !== b64urlEncode(certified)) {
      throw new ChatKeyError("site_key_mismatch", "listed key differs from the certified key");
    }
  }
  return cert;
}

const certCache = new Map(); // `${siteId}` -> Promise<[{version, cert}]>

/** Every verified certificate of a site (GET /api/sites/{id}/keys). */
export function siteCertificates(siteId) {
  if (!certCache.has(siteId)) {
    const loading = api.get(`/api/sites/${segment(siteId)}/keys`).then(async (data) => {
      const out = [];
      for (const key of data.keys || []) {
        try {
          out.push({ version: key.version, active: key.active, cert: await verifySiteCertificate(siteId, key) });
        } catch (error) {
          console.warn("site certificate refused", siteId, key.version, error.code || error);
        }
      }
      return out;
    });
    loading.catch(() => certCache.delete(siteId));
    certCache.set(siteId, loading);
  }
  return certCache.get(siteId);
}

// --- site private keys (counsellors) --------------------------------------------------------

const siteKeys = new Map(); // `${siteId}:${version}` -> {siteId, keyVersion, keys}
let siteKeysLoaded = null;

/** Open every site key sealed to me; returns the Map. Refused boxes are skipped (logged). */
export function loadSiteKeys() {
  if (!siteKeysLoaded) {
    siteKeysLoaded = (async () => {
      const { identity } = await myIdentity();
      const data = await api.get("/api/me/site-keys");
      for (const item of data.sealed || []) {
        try {
          const certs = await siteCertificates(item.site_id);
          const found = certs.find((c) => c.version === item.version);
          if (!found) throw new ChatKeyError("bad_certificate", "no valid certificate for this site key");
          const opened = await openSiteKey(b64urlDecode(item.sealed), identity, found.cert);
          siteKeys.set(`${item.site_id}:${item.version}`, opened);
        } catch (error) {
          console.warn("site key refused", item.site_id, item.version, error.code || error);
        }
      }
      return siteKeys;
    })();
    siteKeysLoaded.catch(() => { siteKeysLoaded = null; });
  }
  return siteKeysLoaded;
}

export async function siteKey(siteId, version) {
  await loadSiteKeys();
  return siteKeys.get(`${siteId}:${version}`) || null;
}

/** Issue #3: forget the cached key list of `siteId` (all sites without it) and my sealed site
 * keys, so the next use fetches them again (after `site.keys_changed` or `stale_site_key`;
 * client/src/chat/site-key-cache.js). Keys already opened stay usable for old conversations. */
export function dropSiteKeyCache(siteId = null) {
  if (siteId) certCache.delete(siteId);
  else certCache.clear();
  siteKeysLoaded = null;
}

// --- trust: which Ed25519 key may sign for whom -------------------------------------------

/**
 * Remember what the server said about the people of a conversation (summary or queue item):
 * `young_person: {id, ed25519_public}` (trust on first use: pinned on this device, a later
 * different key is refused), `counsellor: {id, certificate}` (verified against the
 * organisation key for the conversation's site).
 */
const hints = new Map(); // accountId -> {ed25519_public?, certificate?, siteId?}

export function notePeople(summaryOrItem) {
  if (!summaryOrItem) return;
  const siteId = summaryOrItem.site?.id || summaryOrItem.site_id || null;
  const yp = summaryOrItem.young_person;
  if (yp && yp.id) hints.set(yp.id, { ...(hints.get(yp.id) || {}), ed25519_public: yp.ed25519_public || hints.get(yp.id)?.ed25519_public, kind: "young_person" });
  const c = summaryOrItem.counsellor;
  if (c && c.id) hints.set(c.id, { ...(hints.get(c.id) || {}), certificate: c.certificate || hints.get(c.id)?.certificate, siteId, kind: "counsellor" });
  for (const member of summaryOrItem.members || []) {
    if (member && member.id) hints.set(member.id, { ...(hints.get(member.id) || {}), ...member, siteId });
  }
}

/** Counsellors who wrote in a conversation before it was handed over to this site (issue #6):
 * `[{id, certificate, sites}]` from `handover.former`. Their certificates are checked against the
 * sites named there, never against the current site. */
export function noteFormerCounsellors(items) {
  for (const item of items || []) {
    if (!item || !item.id || !item.certificate || hints.get(item.id)?.kind === "counsellor") continue;
    hints.set(item.id, { certificate: item.certificate, formerSites: [...(item.sites || [])], kind: "former_counsellor" });
  }
}

// Public keys of another member when no summary carried them (proposed endpoint, see the
// issue report): GET /api/accounts/{id}/keys → {x25519_public, ed25519_public, certificate?}.
const fetchedKeys = new Map();
function fetchPublicKeys(accountId) {
  if (!fetchedKeys.has(accountId)) {
    const loading = api.get(`/api/accounts/${segment(accountId)}/keys`).catch(() => null);
    fetchedKeys.set(accountId, loading);
  }
  return fetchedKeys.get(accountId);
}

async function trustedKeyFor(accountId, skid, siteId) {
  const { account, identity } = await myIdentity();
  if (accountId === account.id) return identity.ed25519.publicKey;
  let hint = hints.get(accountId) || {};
  if (!hint.certificate && !hint.ed25519_public) {
    const fetched = await fetchPublicKeys(accountId);
    if (fetched) {
      hint = { ...hint, ed25519_public: fetched.ed25519_public, certificate: fetched.certificate || null };
      if (fetched.role === "young_person") hint.certificate = null;
      hints.set(accountId, hint);
    }
  }
  if (hint.certificate && hint.formerSites) {
    // A counsellor of a site the conversation was handed over from (issue #6): certified for
    // one of those sites (the server names them; docs/protocol.md 8.7).
    for (const formerSite of hint.formerSites) {
      try {
        const cert = await verifyCertificate(certificateObject(hint.certificate), await orgPublicKey(), nowSeconds(),
          { kind: "counsellor", subject: accountId, siteId: formerSite });
        return cert.ed25519Public;
      } catch (error) {
        if (!(error instanceof CryptoError) || error.code !== "certificate_wrong_subject") throw error;
      }
    }
    // Not certified for a former site: only the current site's rule below can still apply.
  }
  if (hint.certificate) {
    const cert = await verifyCertificate(certificateObject(hint.certificate), await orgPublicKey(), nowSeconds(),
      { kind: "counsellor", subject: accountId, siteId: siteId || hint.siteId || undefined });
    return cert.ed25519Public;
  }
  // Trust on first use, pinned in IndexedDB: a young person's key may never silently change.
  const pinned = await pinnedKey(account.id, accountId);
  if (hint.ed25519_public) {
    const offered = b64urlDecode(hint.ed25519_public, 32);
    if (pinned && b64urlEncode(pinned) !== hint.ed25519_public) {
      throw new ChatKeyError("key_changed", "this person's key changed");
    }
    if (!pinned) await pinKey(account.id, accountId, offered);
    return offered;
  }
  if (pinned) return pinned;
  // The site key may sign too (skid of a certified site key of this site).
  if (siteId) {
    for (const { cert } of await siteCertificates(siteId).catch(() => [])) {
      if ((await keyId("ed25519", cert.ed25519Public)) === skid) return cert.ed25519Public;
    }
  }
  return null;
}

/** resolveSigningKey(accountId, skid) for one conversation of `siteId`. */
export function signingKeyResolver(siteId) {
  return async (accountId, skid) => {
    try {
      return await trustedKeyFor(accountId, skid, siteId);
    } catch (error) {
      if (error instanceof CryptoError || error instanceof ChatKeyError) throw error;
      return null;
    }
  };
}

// --- shares on the wire -------------------------------------------------------------------

/** A key share travels as the share's JSON object (the server stores it as it is); the
 * decoder also accepts its JSON text or base64url(JSON). */
export function encodeShare(share) {
  return share;
}

export function decodeShare(sealed) {
  if (sealed && typeof sealed === "object") return sealed;
  if (typeof sealed !== "string") throw new ChatKeyError("malformed_envelope", "key share missing");
  try {
    if (sealed.trimStart().startsWith("{")) return JSON.parse(sealed);
    return JSON.parse(utf8Decode(b64urlDecode(sealed)));
  } catch {
    throw new ChatKeyError("malformed_envelope", "key share not readable");
  }
}

// --- epoch keys ---------------------------------------------------------------------------

const epochKeys = new Map(); // conversationId -> Map(epoch -> CryptoKey)

export function epochKeysOf(conversationId) {
  if (!epochKeys.has(conversationId)) epochKeys.set(conversationId, new Map());
  return epochKeys.get(conversationId);
}

export function rememberEpochKey(conversationId, epoch, key) {
  epochKeysOf(conversationId).set(epoch, key);
}

/** The private keys that can open a share addressed to `to` (key id of an X25519 key). */
async function recipientFor(to, siteId) {
  const { identity } = await myIdentity();
  if ((await keyId("x25519", identity.x25519.publicKey)) === to) return identity;
  await loadSiteKeys().catch(() => null);
  for (const opened of siteKeys.values()) {
    if (siteId && opened.siteId !== siteId) continue;
    if (opened.keys.x25519KeyId === to || (await keyId("x25519", opened.keys.x25519.publicKey)) === to) return opened.keys;
  }
  return null;
}

/**
 * Open the shares in `entries` (`[{epoch, sealed, ...}]`) that are addressed to me or to a site
 * key I hold; returns the number of epochs now known. Shares for others are skipped; a share
 * that is addressed to me but does not verify throws (never trust a key the server made up).
 */
export async function openShares(conversationId, siteId, entries) {
  const known = epochKeysOf(conversationId);
  const resolveSigningKey = signingKeyResolver(siteId);
  let problem = null;
  for (const entry of entries || []) {
    if (known.has(entry.epoch)) continue;
    let share;
    try {
      share = decodeShare(entry.sealed);
    } catch (error) {
      problem = problem || error;
      continue;
    }
    const recipient = await recipientFor(share.to, siteId);
    if (!recipient) continue;
    try {
      const opened = await openConversationKey(share, { conversationId, recipient, resolveSigningKey });
      known.set(opened.epoch, opened.key);
    } catch (error) {
      problem = problem || error;
    }
  }
  if (problem && !known.size) throw problem;
  return known.size;
}
