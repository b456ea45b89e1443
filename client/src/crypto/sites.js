// Site (team) keys (docs/protocol.md section 7.2). Mirrors server/crypto/sites.py.
//
// Counsellors' browsers only OPEN site keys (openSiteKey). createSiteKey / sealSiteKey exist for
// admin tooling and for the interoperability tests; they handle raw private bytes by necessity.

import { MAX_SAFE_INT, bytesEqual, checkId, checkInt, encodeStruct } from "./encoding.js";
import { BadCiphertext, InvalidInput, SiteKeyMismatch } from "./errors.js";
import { decodeSecrets, encodeSecrets, importKeyPairs } from "./keys.js";
import { generateRaw, openSealed, seal, sealWith } from "./primitives.js";

const SITE_SECRETS_LABEL = "jmdchat/v1/site-secrets";

export function siteKeyBoxAad(siteId, keyVersion) {
  return encodeStruct("jmdchat/v1/site-key-box", checkId(siteId, "site id"),
    checkInt(keyVersion, 1, MAX_SAFE_INT, "key version"));
}

/** Fresh site key (raw secrets!): { siteId, keyVersion, x25519Private, ed25519Seed,
 * x25519Public, ed25519Public }. Admin tooling only. */
export async function createSiteKey(siteId, keyVersion) {
  const x = await generateRaw("X25519");
  const ed = await generateRaw("Ed25519");
  return {
    siteId: checkId(siteId, "site id"),
    keyVersion: checkInt(keyVersion, 1, MAX_SAFE_INT, "key version"),
    x25519Private: x.privateRaw,
    ed25519Seed: ed.privateRaw,
    x25519Public: x.publicKey,
    ed25519Public: ed.publicKey,
  };
}

/** Seal a site key (raw secrets) to one counsellor's X25519 public key. */
export async function sealSiteKey(siteKey, memberX25519Public) {
  return seal(memberX25519Public,
    encodeSecrets(SITE_SECRETS_LABEL, siteKey.x25519Private, siteKey.ed25519Seed),
    siteKeyBoxAad(siteKey.siteId, siteKey.keyVersion));
}

/** Deterministic variant. FOR TEST VECTORS ONLY. */
export async function sealSiteKeyWith(siteKey, memberX25519Public, ephPrivateRaw, nonce) {
  return sealWith(memberX25519Public,
    encodeSecrets(SITE_SECRETS_LABEL, siteKey.x25519Private, siteKey.ed25519Seed),
    siteKeyBoxAad(siteKey.siteId, siteKey.keyVersion), ephPrivateRaw, nonce);
}

/**
 * Open a site key box with the counsellor's identity and check it against the (already
 * verified) site certificate. The sealed box is anonymous, so anybody, the server included,
 * could seal *some* key to a counsellor: only the comparison with the certified public keys
 * makes the result trustworthy. Returns { siteId, keyVersion, keys } with non-extractable keys.
 */
export async function openSiteKey(box, member, siteCert) {
  if (siteCert.kind !== "site") throw new InvalidInput("expected a site certificate");
  const plaintext = await openSealed(member.x25519, box,
    siteKeyBoxAad(siteCert.subject, siteCert.keyVersion));
  let secrets;
  try {
    secrets = decodeSecrets(SITE_SECRETS_LABEL, plaintext);
  } catch {
    throw new BadCiphertext("site key box has an unexpected structure");
  } finally {
    plaintext.fill(0);
  }
  let keys;
  try {
    keys = await importKeyPairs(secrets.x25519Private, secrets.ed25519Seed);
  } finally {
    secrets.x25519Private.fill(0);
    secrets.ed25519Seed.fill(0);
  }
  if (!(bytesEqual(keys.x25519.publicKey, siteCert.x25519Public) &&
    bytesEqual(keys.ed25519.publicKey, siteCert.ed25519Public))) {
    throw new SiteKeyMismatch("opened site key differs from the certified site key");
  }
  return { siteId: siteCert.subject, keyVersion: siteCert.keyVersion, keys };
}

/**
 * Team management (site key rotation): open a site key box to RE-SEAL it to a colleague.
 * Like openSiteKey, the opened key must equal the certified public halves of that version;
 * unlike it, this returns the raw secrets (as createSiteKey does), because sealing needs them.
 * Only the Team screen of a site lead uses it, and it wipes the result after sealing.
 */
export async function openSiteKeyForSealing(box, member, siteCert) {
  if (siteCert.kind !== "site") throw new InvalidInput("expected a site certificate");
  const plaintext = await openSealed(member.x25519, box,
    siteKeyBoxAad(siteCert.subject, siteCert.keyVersion));
  let secrets;
  try {
    secrets = decodeSecrets(SITE_SECRETS_LABEL, plaintext);
  } catch {
    throw new BadCiphertext("site key box has an unexpected structure");
  } finally {
    plaintext.fill(0);
  }
  const keys = await importKeyPairs(secrets.x25519Private.slice(), secrets.ed25519Seed.slice());
  if (!(bytesEqual(keys.x25519.publicKey, siteCert.x25519Public) &&
    bytesEqual(keys.ed25519.publicKey, siteCert.ed25519Public))) {
    secrets.x25519Private.fill(0);
    secrets.ed25519Seed.fill(0);
    throw new SiteKeyMismatch("opened site key differs from the certified site key");
  }
  return {
    siteId: siteCert.subject,
    keyVersion: siteCert.keyVersion,
    x25519Private: secrets.x25519Private,
    ed25519Seed: secrets.ed25519Seed,
    x25519Public: keys.x25519.publicKey,
    ed25519Public: keys.ed25519.publicKey,
  };
}

/** Overwrite the raw secrets of a site key made by createSiteKey / openSiteKeyForSealing. */
export function wipeSiteKey(siteKey) {
  if (!siteKey) return;
  siteKey.x25519Private?.fill(0);
  siteKey.ed25519Seed?.fill(0);
}
