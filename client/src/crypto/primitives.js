// WebCrypto wrappers for the primitives of docs/protocol.md section 2, and the sealed box of
// section 6. Mirrors server/crypto/primitives.py. Only crypto.subtle and crypto.getRandomValues
// are used: no JavaScript cryptography library, no home-made primitive.
//
// Private keys leave this module only as non-extractable CryptoKeys. Raw private bytes exist
// transiently (key generation before wrapping, after unwrapping before import) and are
// overwritten with zeros as soon as they are no longer needed (best effort: JavaScript gives no
// guarantee that no copy remains).

import {
  b64urlDecode,
  bytesEqual,
  checkBytes,
  concatBytes,
  toBytes,
  utf8Encode,
} from "./encoding.js";
import { BadCiphertext, InvalidInput } from "./errors.js";

export const KEY_LEN = 32;
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
export const SIG_LEN = 64;
export const SEAL_VERSION = 0x01;
export const SEAL_OVERHEAD = 1 + KEY_LEN + NONCE_LEN + TAG_LEN;
const SEAL_INFO = utf8Encode("jmdchat/v1/seal");

// RFC 8410 PKCS#8 encodings of a bare 32-byte private key: a fixed 16-byte DER prefix, then the
// key. WebCrypto exports exactly this; anything else (e.g. with an attached public key) is refused
// rather than parsed, so there is no DER parser here.
const PKCS8_PREFIX = {
  X25519: hex("302e020100300506032b656e04220420"),
  Ed25519: hex("302e020100300506032b657004220420"),
};

function hex(text) {
  return Uint8Array.from(text.match(/../g).map((h) => parseInt(h, 16)));
}

function subtle() {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new InvalidInput("WebCrypto (crypto.subtle) is not available: HTTPS required");
  return s;
}

/** `n` bytes from the platform CSPRNG. */
export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export async function sha256(data) {
  return new Uint8Array(await subtle().digest("SHA-256", toBytes(data)));
}

export async function sha512(data) {
  return new Uint8Array(await subtle().digest("SHA-512", toBytes(data)));
}

/** HKDF-SHA-256 (RFC 5869) -> raw bytes. */
export async function hkdfSha256(ikm, salt, info, length = KEY_LEN) {
  const key = await subtle().importKey("raw", toBytes(ikm), "HKDF", false, ["deriveBits"]);
  const bits = await subtle().deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: toBytes(salt), info: toBytes(info) },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/** HKDF-SHA-256 straight into a non-extractable AES-256-GCM key (the bytes never reach JS). */
export async function hkdfSha256AesKey(ikm, salt, info) {
  const key = await subtle().importKey("raw", toBytes(ikm), "HKDF", false, ["deriveKey"]);
  return subtle().deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: toBytes(salt), info: toBytes(info) },
    key,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** PBKDF2-HMAC-SHA-256 -> raw bytes. Iteration policy is enforced by the caller (keys.js). */
export async function pbkdf2Sha256(password, salt, iterations, length = KEY_LEN) {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new InvalidInput("iterations must be positive");
  }
  const key = await subtle().importKey("raw", toBytes(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle().deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: toBytes(salt), iterations },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/** Import 32 raw bytes as a non-extractable AES-256-GCM key. */
export async function importAesKey(raw) {
  return subtle().importKey("raw", checkBytes(raw, KEY_LEN, "AES key"), "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

async function asAesKey(key) {
  return key instanceof CryptoKey ? key : importAesKey(key);
}

/** AES-256-GCM; returns ciphertext || 16-byte tag. `key` is a CryptoKey or 32 raw bytes. */
export async function aesGcmEncrypt(key, nonce, plaintext, aad) {
  const ct = await subtle().encrypt(
    {
      name: "AES-GCM",
      iv: checkBytes(nonce, NONCE_LEN, "nonce"),
      additionalData: toBytes(aad),
      tagLength: 128,
    },
    await asAesKey(key),
    toBytes(plaintext),
  );
  return new Uint8Array(ct);
}

/** AES-256-GCM decryption; throws BadCiphertext on any authentication failure. */
export async function aesGcmDecrypt(key, nonce, ciphertext, aad) {
  const ct = toBytes(ciphertext);
  if (ct.length < TAG_LEN) throw new BadCiphertext("ciphertext shorter than the tag");
  const k = await asAesKey(key);
  try {
    const pt = await subtle().decrypt(
      {
        name: "AES-GCM",
        iv: checkBytes(nonce, NONCE_LEN, "nonce"),
        additionalData: toBytes(aad),
        tagLength: 128,
      },
      k,
      ct,
    );
    return new Uint8Array(pt);
  } catch (err) {
    if (err instanceof InvalidInput) throw err;
    throw new BadCiphertext("AES-GCM authentication failed");
  }
}

// --- X25519 / Ed25519 key handling ------------------------------------------------------------

const USAGES = { X25519: ["deriveBits"], Ed25519: ["sign"] };

/** Fresh key pair; returns the raw 32-byte private value (caller zeroes it) and the public key. */
export async function generateRaw(alg) {
  const pair = await subtle().generateKey({ name: alg }, true, alg === "X25519"
    ? ["deriveBits"] : ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await subtle().exportKey("pkcs8", pair.privateKey));
  const publicKey = new Uint8Array(await subtle().exportKey("raw", pair.publicKey));
  const prefix = PKCS8_PREFIX[alg];
  if (pkcs8.length !== prefix.length + KEY_LEN || !bytesEqual(pkcs8.subarray(0, 16), prefix)) {
    throw new InvalidInput("unexpected PKCS#8 encoding from WebCrypto");
  }
  const privateRaw = pkcs8.slice(16);
  pkcs8.fill(0);
  return { privateRaw, publicKey };
}

/**
 * Import a raw 32-byte private value (X25519 scalar or Ed25519 seed) as a NON-extractable
 * CryptoKey and compute its public key. WebCrypto cannot derive a public key from a private
 * one directly, so the key is first imported as extractable only to read the JWK "x" member
 * (the public key), then imported again as non-extractable; the transient copies are dropped.
 */
export async function importPrivateRaw(alg, raw) {
  const pkcs8 = concatBytes(PKCS8_PREFIX[alg], checkBytes(raw, KEY_LEN, `${alg} private key`));
  try {
    const temp = await subtle().importKey("pkcs8", pkcs8, { name: alg }, true, USAGES[alg]);
    const jwk = await subtle().exportKey("jwk", temp);
    const publicKey = b64urlDecode(jwk.x, KEY_LEN);
    jwk.d = "";
    const privateKey = await subtle().importKey("pkcs8", pkcs8, { name: alg }, false, USAGES[alg]);
    return { privateKey, publicKey };
  } finally {
    pkcs8.fill(0);
  }
}

/** X25519 shared secret; refuses the all-zero result of small-order peer points. */
export async function x25519(privateKey, peerPublic) {
  const peer = await subtle().importKey(
    "raw", checkBytes(peerPublic, KEY_LEN, "X25519 public key"), { name: "X25519" }, true, []);
  let shared;
  try {
    shared = new Uint8Array(
      await subtle().deriveBits({ name: "X25519", public: peer }, privateKey, 256));
  } catch {
    // The WebCrypto spec requires an OperationError for an all-zero secret.
    throw new InvalidInput("X25519 with a small-order public key");
  }
  if (bytesEqual(shared, new Uint8Array(KEY_LEN))) {
    throw new InvalidInput("X25519 with a small-order public key");
  }
  return shared;
}

export async function ed25519Sign(privateKey, message) {
  return new Uint8Array(await subtle().sign({ name: "Ed25519" }, privateKey, toBytes(message)));
}

/** True iff `signature` is a valid Ed25519 signature of `message` under the raw `publicKey`. */
export async function ed25519Verify(publicKey, signature, message) {
  const pub = toBytes(publicKey);
  const sig = toBytes(signature);
  if (pub.length !== KEY_LEN || sig.length !== SIG_LEN) return false;
  try {
    const key = await subtle().importKey("raw", pub, { name: "Ed25519" }, true, ["verify"]);
    return await subtle().verify({ name: "Ed25519" }, key, sig, toBytes(message));
  } catch {
    return false;
  }
}

// --- Sealed box (section 6) -------------------------------------------------------------------

async function sealKey(shared, ephPublic, recipientPublic) {
  return hkdfSha256AesKey(shared, concatBytes(ephPublic, recipientPublic), SEAL_INFO);
}

async function sealWithKey(recipientPublic, plaintext, aad, eph, nonce) {
  const recipient = checkBytes(recipientPublic, KEY_LEN, "recipient public key");
  const shared = await x25519(eph.privateKey, recipient);
  const key = await sealKey(shared, eph.publicKey, recipient);
  shared.fill(0);
  const ct = await aesGcmEncrypt(key, nonce, plaintext, aad);
  return concatBytes(Uint8Array.of(SEAL_VERSION), eph.publicKey, nonce, ct);
}

/**
 * Deterministic sealing with a caller-chosen ephemeral private key and nonce.
 * FOR TEST VECTORS ONLY: reusing them destroys confidentiality. Use seal().
 */
export async function sealWith(recipientPublic, plaintext, aad, ephPrivateRaw, nonce) {
  const eph = await importPrivateRaw("X25519", ephPrivateRaw);
  return sealWithKey(recipientPublic, plaintext, aad, eph, checkBytes(nonce, NONCE_LEN, "nonce"));
}

/** 0x01 || eph_pub || nonce || AES-256-GCM(HKDF(X25519(eph, recipient)), plaintext, aad). */
export async function seal(recipientPublic, plaintext, aad) {
  // The ephemeral key is generated non-extractable: its private half never exists in JS.
  const pair = await subtle().generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const eph = {
    privateKey: pair.privateKey,
    publicKey: new Uint8Array(await subtle().exportKey("raw", pair.publicKey)),
  };
  return sealWithKey(recipientPublic, plaintext, aad, eph, randomBytes(NONCE_LEN));
}

/**
 * Open a sealed box with `recipient` = { privateKey: CryptoKey (X25519), publicKey: raw }.
 * Throws BadCiphertext for anything that does not authenticate.
 */
export async function openSealed(recipient, sealed, aad) {
  const box = toBytes(sealed);
  if (box.length < SEAL_OVERHEAD || box[0] !== SEAL_VERSION) {
    throw new BadCiphertext("not a version-1 sealed box");
  }
  const ephPublic = box.subarray(1, 1 + KEY_LEN);
  const nonce = box.subarray(1 + KEY_LEN, 1 + KEY_LEN + NONCE_LEN);
  const ct = box.subarray(1 + KEY_LEN + NONCE_LEN);
  let shared;
  try {
    shared = await x25519(recipient.privateKey, ephPublic);
  } catch {
    throw new BadCiphertext("invalid ephemeral key");
  }
  const key = await sealKey(shared, ephPublic, checkBytes(recipient.publicKey, KEY_LEN));
  shared.fill(0);
  return aesGcmDecrypt(key, nonce, ct, aad);
}
