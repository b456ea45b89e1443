// Password and recovery-code key derivation, identity keys, key blobs, key ids and fingerprints
// (docs/protocol.md sections 3.4, 4 and 5). Mirrors server/crypto/keys.py.

import {
  b64urlDecode,
  b64urlEncode,
  checkBytes,
  concatBytes,
  encodeStruct,
  hasExactKeys,
  toBytes,
  utf8Encode,
} from "./encoding.js";
import {
  BadCiphertext,
  BadKeyBlob,
  BadRecoveryCode,
  InvalidInput,
  WeakKdfParameters,
} from "./errors.js";
import {
  KEY_LEN,
  NONCE_LEN,
  TAG_LEN,
  aesGcmDecrypt,
  aesGcmEncrypt,
  generateRaw,
  hkdfSha256,
  hkdfSha256AesKey,
  importPrivateRaw,
  pbkdf2Sha256,
  randomBytes,
  sha256,
  sha512,
} from "./primitives.js";

/** Default and enforced minimum (see docs/protocol.md 4.1): a compromised server must not be
 * able to make the client derive with fewer iterations. */
export const MIN_PBKDF2_ITERATIONS = 600000;
export const DEFAULT_PBKDF2_ITERATIONS = MIN_PBKDF2_ITERATIONS;
/** Upper bound so that a hostile server cannot make the phone spin forever. */
export const MAX_PBKDF2_ITERATIONS = 10000000;
export const SALT_LEN = 16;
export const KDF_ALG = "pbkdf2-sha256";

const AUTH_INFO = utf8Encode("jmdchat/v1/auth");
const WRAP_INFO = utf8Encode("jmdchat/v1/wrap");
const RECOVERY_AUTH_INFO = utf8Encode("jmdchat/v1/recovery-auth");
const RECOVERY_WRAP_INFO = utf8Encode("jmdchat/v1/recovery-wrap");
const EMPTY = new Uint8Array(0);

const BLOB_VERSION = 0x01;
const IDENTITY_SECRETS_LABEL = "jmdchat/v1/identity-secrets";
const BLOB_LEN = 1 + NONCE_LEN + 4 * 3 + IDENTITY_SECRETS_LABEL.length + 2 * KEY_LEN + TAG_LEN;
const PURPOSES = ["password", "recovery"];

// --- Password (section 4.1) -------------------------------------------------------------------

/** Fresh KDF parameters for registration: {alg, iter, salt (base64url)}. */
export function newKdfParams() {
  return { alg: KDF_ALG, iter: DEFAULT_PBKDF2_ITERATIONS, salt: b64urlEncode(randomBytes(SALT_LEN)) };
}

function checkIterations(iterations, allowLowIterations) {
  const lo = allowLowIterations ? 1 : MIN_PBKDF2_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < lo || iterations > MAX_PBKDF2_ITERATIONS) {
    throw new WeakKdfParameters(
      `PBKDF2 iterations must be in [${lo}, ${MAX_PBKDF2_ITERATIONS}]`);
  }
}

/** Parse the server's {alg, iter, salt}; refuses anything below the minimum. */
export function parseKdfParams(obj, { allowLowIterations = false } = {}) {
  if (!hasExactKeys(obj, ["alg", "iter", "salt"]) || obj.alg !== KDF_ALG) {
    throw new WeakKdfParameters("KDF parameters must be {alg: pbkdf2-sha256, iter, salt}");
  }
  let salt;
  try {
    salt = b64urlDecode(obj.salt, SALT_LEN);
  } catch {
    throw new WeakKdfParameters("salt must be 16 bytes");
  }
  checkIterations(obj.iter, allowLowIterations);
  return { salt, iterations: obj.iter };
}

/**
 * master = PBKDF2-SHA-256(NFC(password), salt, iterations); returns
 * { authKey: Uint8Array (sent to the server), wrapKey: non-extractable AES-GCM CryptoKey }.
 * `allowLowIterations` exists for test vectors only; real accounts use >= 600 000.
 */
export async function derivePasswordKeys(
  password, salt, iterations = DEFAULT_PBKDF2_ITERATIONS, { allowLowIterations = false } = {},
) {
  if (typeof password !== "string" || password === "") {
    throw new InvalidInput("password must be a non-empty string");
  }
  let saltBytes;
  try {
    saltBytes = checkBytes(salt, SALT_LEN, "salt");
  } catch {
    throw new WeakKdfParameters("salt must be 16 bytes");
  }
  checkIterations(iterations, allowLowIterations);
  const master = await pbkdf2Sha256(utf8Encode(password.normalize("NFC")), saltBytes, iterations);
  try {
    return {
      authKey: await hkdfSha256(master, EMPTY, AUTH_INFO),
      wrapKey: await hkdfSha256AesKey(master, EMPTY, WRAP_INFO),
    };
  } finally {
    master.fill(0);
  }
}

// --- Recovery code (section 4.2) --------------------------------------------------------------

export const RECOVERY_CODE_BYTES = 16;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CROCKFORD_DECODE = new Map([...[...CROCKFORD].map((c, i) => [c, i]),
  ["I", 1], ["L", 1], ["O", 0]]);
const RECOVERY_CHARS = 28;
const CHECK_BITS = 12n;

async function recoveryChecksum(code) {
  const digest = await sha256(encodeStruct("jmdchat/v1/recovery-check", code));
  return BigInt((digest[0] << 4) | (digest[1] >> 4));
}

function bytesToBigInt(bytes) {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** 28 Crockford base32 characters in 7 groups of 4: 128 code bits then a 12-bit checksum. */
export async function formatRecoveryCode(code) {
  const bytes = checkBytes(code, RECOVERY_CODE_BYTES, "recovery code");
  const value = (bytesToBigInt(bytes) << CHECK_BITS) | (await recoveryChecksum(bytes));
  let chars = "";
  for (let i = RECOVERY_CHARS - 1; i >= 0; i--) {
    chars += CROCKFORD[Number((value >> BigInt(5 * i)) & 31n)];
  }
  return chars.match(/.{4}/g).join("-");
}

/** Inverse of formatRecoveryCode, tolerant of case, spaces, dashes and I/L/O confusion. */
export async function parseRecoveryCode(text) {
  if (typeof text !== "string") throw new BadRecoveryCode("recovery code must be a string");
  const cleaned = text.toUpperCase().replace(/[ \t\r\n-]/g, "");
  if (cleaned.length !== RECOVERY_CHARS) throw new BadRecoveryCode("a recovery code has 28 characters");
  let value = 0n;
  for (const ch of cleaned) {
    const digit = CROCKFORD_DECODE.get(ch);
    if (digit === undefined) throw new BadRecoveryCode("invalid character in recovery code");
    value = (value << 5n) | BigInt(digit);
  }
  let codeValue = value >> CHECK_BITS;
  const code = new Uint8Array(RECOVERY_CODE_BYTES);
  for (let i = RECOVERY_CODE_BYTES - 1; i >= 0; i--) {
    code[i] = Number(codeValue & 0xffn);
    codeValue >>= 8n;
  }
  if ((value & ((1n << CHECK_BITS) - 1n)) !== (await recoveryChecksum(code))) {
    throw new BadRecoveryCode("recovery code checksum mismatch (typo?)");
  }
  return code;
}

/** Fresh 128-bit recovery code: { code: Uint8Array(16), formatted: string }. */
export async function generateRecoveryCode() {
  const code = randomBytes(RECOVERY_CODE_BYTES);
  return { code, formatted: await formatRecoveryCode(code) };
}

/** { authKey: Uint8Array (to the server), wrapKey: non-extractable CryptoKey }. */
export async function deriveRecoveryKeys(code) {
  const bytes = checkBytes(code, RECOVERY_CODE_BYTES, "recovery code");
  return {
    authKey: await hkdfSha256(bytes, EMPTY, RECOVERY_AUTH_INFO),
    wrapKey: await hkdfSha256AesKey(bytes, EMPTY, RECOVERY_WRAP_INFO),
  };
}

// --- Key ids and fingerprints (section 3.4) ---------------------------------------------------

/** 22-character hash id of a public key ("x25519" | "ed25519"); contains no key bits. */
export async function keyId(alg, publicKey) {
  if (alg !== "x25519" && alg !== "ed25519") throw new InvalidInput("alg must be x25519 or ed25519");
  const digest = await sha256(
    encodeStruct("jmdchat/v1/keyid", alg, checkBytes(publicKey, KEY_LEN, "public key")));
  return b64urlEncode(digest.subarray(0, 16));
}

/** 60 decimal digits in 12 groups of 5, for humans to compare. */
export async function fingerprint(x25519Public, ed25519Public) {
  const digest = await sha512(encodeStruct(
    "jmdchat/v1/fingerprint",
    checkBytes(x25519Public, KEY_LEN, "X25519 public key"),
    checkBytes(ed25519Public, KEY_LEN, "Ed25519 public key"),
  ));
  const groups = [];
  for (let i = 0; i < 12; i++) {
    const chunk = bytesToBigInt(digest.subarray(5 * i, 5 * i + 5));
    groups.push(String(chunk % 100000n).padStart(5, "0"));
  }
  return groups.join(" ");
}

// --- Key pairs, identity, key blobs (section 5) -----------------------------------------------

/**
 * Import raw private values as a key-pair set with NON-extractable private CryptoKeys:
 * { x25519: {privateKey, publicKey}, ed25519: {privateKey, publicKey}, x25519KeyId,
 *   ed25519KeyId }. Public keys are raw Uint8Arrays.
 */
export async function importKeyPairs(x25519Private, ed25519Seed) {
  const x = await importPrivateRaw("X25519", x25519Private);
  const ed = await importPrivateRaw("Ed25519", ed25519Seed);
  return {
    x25519: x,
    ed25519: ed,
    x25519KeyId: await keyId("x25519", x.publicKey),
    ed25519KeyId: await keyId("ed25519", ed.publicKey),
  };
}

/** S(label, x25519_private, ed25519_seed): plaintext of key blobs and site key boxes. */
export function encodeSecrets(label, x25519Private, ed25519Seed) {
  return encodeStruct(label, checkBytes(x25519Private, KEY_LEN), checkBytes(ed25519Seed, KEY_LEN));
}

/** Inverse of encodeSecrets for exactly this label; throws InvalidInput otherwise. */
export function decodeSecrets(label, plaintext) {
  const expected = encodeStruct(label);
  const body = toBytes(plaintext);
  const ok = body.length === expected.length + 2 * (4 + KEY_LEN) &&
    expected.every((b, i) => body[i] === b) &&
    [0, 36].every((off) => {
      const p = expected.length + off;
      return body[p] === 0 && body[p + 1] === 0 && body[p + 2] === 0 && body[p + 3] === KEY_LEN;
    });
  if (!ok) throw new InvalidInput("unexpected secrets structure");
  const o = expected.length;
  return { x25519Private: body.slice(o + 4, o + 36), ed25519Seed: body.slice(o + 40, o + 72) };
}

function blobAad(purpose) {
  if (!PURPOSES.includes(purpose)) throw new InvalidInput("purpose must be password or recovery");
  return encodeStruct("jmdchat/v1/key-blob", purpose);
}

/** Deterministic wrapping of raw secrets. FOR TEST VECTORS ONLY (nonce reuse is fatal). */
export async function wrapSecretsWithNonce(secrets, wrapKey, purpose, nonce) {
  const plaintext = encodeSecrets(IDENTITY_SECRETS_LABEL, secrets.x25519Private,
    secrets.ed25519Seed);
  try {
    const ct = await aesGcmEncrypt(wrapKey, nonce, plaintext, blobAad(purpose));
    return concatBytes(Uint8Array.of(BLOB_VERSION), nonce, ct);
  } finally {
    plaintext.fill(0);
  }
}

async function wrapSecrets(secrets, wrapKey, purpose) {
  return wrapSecretsWithNonce(secrets, wrapKey, purpose, randomBytes(NONCE_LEN));
}

async function unwrapSecrets(blob, wrapKey, purpose) {
  const aad = blobAad(purpose);
  const bytes = toBytes(blob);
  if (bytes.length !== BLOB_LEN || bytes[0] !== BLOB_VERSION) {
    throw new BadKeyBlob("not a version-1 key blob");
  }
  let plaintext;
  try {
    plaintext = await aesGcmDecrypt(wrapKey, bytes.subarray(1, 13), bytes.subarray(13), aad);
    return decodeSecrets(IDENTITY_SECRETS_LABEL, plaintext);
  } catch (err) {
    if (err instanceof BadCiphertext || err instanceof InvalidInput) {
      throw new BadKeyBlob("cannot unwrap key blob");
    }
    throw err;
  } finally {
    plaintext?.fill(0);
  }
}

function zeroSecrets(secrets) {
  secrets.x25519Private.fill(0);
  secrets.ed25519Seed.fill(0);
}

/**
 * Registration: generate the identity, wrap it under both keys, keep only non-extractable keys.
 * Returns { identity, passwordBlob: Uint8Array, recoveryBlob: Uint8Array }.
 */
export async function createIdentity(passwordWrapKey, recoveryWrapKey) {
  const x = await generateRaw("X25519");
  const ed = await generateRaw("Ed25519");
  const secrets = { x25519Private: x.privateRaw, ed25519Seed: ed.privateRaw };
  try {
    const passwordBlob = await wrapSecrets(secrets, passwordWrapKey, "password");
    const recoveryBlob = await wrapSecrets(secrets, recoveryWrapKey, "recovery");
    const identity = await importKeyPairs(secrets.x25519Private, secrets.ed25519Seed);
    return { identity, passwordBlob, recoveryBlob };
  } finally {
    zeroSecrets(secrets);
  }
}

/** Open a key blob -> identity with non-extractable keys; failures throw BadKeyBlob. The caller
 * must compare identity public keys with the ones the server publishes for the account. */
export async function unwrapIdentity(blob, wrapKey, purpose) {
  const secrets = await unwrapSecrets(blob, wrapKey, purpose);
  try {
    return await importKeyPairs(secrets.x25519Private, secrets.ed25519Seed);
  } finally {
    zeroSecrets(secrets);
  }
}

/** Password change / recovery: unwrap with one key, wrap with another. */
export async function rewrapIdentity(blob, fromKey, fromPurpose, toKey, toPurpose) {
  const secrets = await unwrapSecrets(blob, fromKey, fromPurpose);
  try {
    return await wrapSecrets(secrets, toKey, toPurpose);
  } finally {
    zeroSecrets(secrets);
  }
}
