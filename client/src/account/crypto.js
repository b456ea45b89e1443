// Thin adapter between the account screens and the protocol code (src/crypto/protocol.js,
// owned by the crypto engineer): it only renames and flattens, it adds no cryptography.
// Identity shape used by the account code and the key store:
//   { x25519Private: CryptoKey, ed25519Private: CryptoKey,   (both non-extractable)
//     x25519Public: Uint8Array(32), ed25519Public: Uint8Array(32) }

import * as p from "../crypto/protocol.js";

export const DEFAULT_ITERATIONS = p.DEFAULT_PBKDF2_ITERATIONS;
export const SALT_LEN = 16;
export const b64urlEncode = p.b64urlEncode;
export const b64urlDecode = p.b64urlDecode;
export const derivePasswordKeys = p.derivePasswordKeys;   // → {authKey: bytes, wrapKey: CryptoKey}
export const deriveRecoveryKeys = p.deriveRecoveryKeys;   // → {authKey: bytes, wrapKey: CryptoKey}
export const parseRecoveryCode = p.parseRecoveryCode;     // async, tolerant; throws bad_recovery_code
export const rewrapIdentity = p.rewrapIdentity;
export const fingerprint = p.fingerprint;

export function randomBytes(n) {
  return crypto.getRandomValues(new Uint8Array(n));
}

function flatten(identity) {
  return {
    x25519Private: identity.x25519.privateKey,
    ed25519Private: identity.ed25519.privateKey,
    x25519Public: identity.x25519.publicKey,
    ed25519Public: identity.ed25519.publicKey,
  };
}

/** {code: Uint8Array(16), text: "XXXX-XXXX-…"} */
export async function generateRecoveryCode() {
  const { code, formatted } = await p.generateRecoveryCode();
  return { code, text: formatted };
}

/** New identity wrapped under both keys: {identity (flat), passwordBlob, recoveryBlob}. */
export async function createIdentity(passwordWrapKey, recoveryWrapKey) {
  const created = await p.createIdentity(passwordWrapKey, recoveryWrapKey);
  return { identity: flatten(created.identity), passwordBlob: created.passwordBlob, recoveryBlob: created.recoveryBlob };
}

export async function unwrapIdentity(blob, wrapKey, purpose) {
  return flatten(await p.unwrapIdentity(blob, wrapKey, purpose));
}
