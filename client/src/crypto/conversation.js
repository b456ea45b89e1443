// Conversation keys, signed key shares and message envelopes (docs/protocol.md section 8).
// Mirrors server/crypto/conversation.py.
//
// There is no plaintext fallback: encryptMessage either returns an envelope or throws, and
// openEnvelope either returns a verified, decrypted message or throws a typed error.

import {
  MAX_SAFE_INT,
  UUID_PATTERN,
  b64urlDecode,
  b64urlEncode,
  checkBytes,
  checkId,
  checkInt,
  encodeStruct,
  hasExactKeys,
  toBytes,
  utf8Decode,
  utf8Encode,
} from "./encoding.js";
import {
  BadCiphertext,
  BadPlaintext,
  BadSignature,
  InvalidInput,
  MalformedEnvelope,
  UnknownEpoch,
  UnknownSender,
  WrongConversation,
  WrongRecipient,
} from "./errors.js";
import { keyId } from "./keys.js";
import {
  KEY_LEN,
  NONCE_LEN,
  SEAL_OVERHEAD,
  SIG_LEN,
  TAG_LEN,
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
  importAesKey,
  openSealed,
  randomBytes,
  seal,
  sealWith,
} from "./primitives.js";

export const ENVELOPE_VERSION = 1;
export const MAX_EPOCH = 2 ** 31 - 1;
export const PAD_BLOCK = 256;
export const MAX_PADDED = 65280;
const MIN_CT = PAD_BLOCK + TAG_LEN;
const MAX_CT = MAX_PADDED + TAG_LEN;
const MAX_CT_B64 = 87062;
const SHARE_BOX_LEN = SEAL_OVERHEAD + KEY_LEN;
const ENVELOPE_KEYS = ["v", "conv", "epoch", "mid", "sender", "skid", "nonce", "ct", "sig"];
const SHARE_KEYS = ["v", "conv", "epoch", "to", "from", "fskid", "box", "sig"];

/** Random 32-byte key for one (conversation, epoch). Seal it to every member, then import it
 * with importConversationKey and drop the bytes. */
export function newConversationKey() {
  return randomBytes(KEY_LEN);
}

/** Import an epoch key as a non-extractable AES-GCM CryptoKey. */
export async function importConversationKey(raw) {
  return importAesKey(raw);
}

function checkKeyId(value, what) {
  if (typeof value !== "string" || value.length !== 22) {
    throw new InvalidInput(`${what} must be a 22-character key id`);
  }
  b64urlDecode(value, 16);
  return value;
}

function checkMid(mid) {
  if (typeof mid !== "string" || !UUID_PATTERN.test(mid)) {
    throw new InvalidInput("mid must be a lower-case UUID");
  }
  return mid;
}

// --- Padding (section 8.3) --------------------------------------------------------------------

/** ISO/IEC 7816-4 padding (0x80 then zeros) to the next multiple of 256 bytes. */
export function pad(plaintext) {
  const data = toBytes(plaintext);
  const paddedLen = (Math.floor(data.length / PAD_BLOCK) + 1) * PAD_BLOCK;
  if (paddedLen > MAX_PADDED) throw new InvalidInput("message too long");
  const out = new Uint8Array(paddedLen);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}

export function unpad(padded) {
  const data = toBytes(padded);
  if (data.length === 0 || data.length % PAD_BLOCK !== 0 || data.length > MAX_PADDED) {
    throw new BadPlaintext("padded length is not a multiple of 256");
  }
  let end = data.length - 1;
  while (end >= 0 && data[end] === 0) end--;
  if (end < 0 || data[end] !== 0x80) throw new BadPlaintext("missing padding marker");
  return data.slice(0, end);
}

// --- Plaintext --------------------------------------------------------------------------------

/** A JSON object with a string `type`; text messages need a string `body` and integer
 * `sent_at` (milliseconds). */
export function checkMessage(message) {
  if (message === null || typeof message !== "object" || Array.isArray(message) ||
    typeof message.type !== "string") {
    throw new BadPlaintext("message must be an object with a string type");
  }
  if (message.type === "text") {
    if (typeof message.body !== "string") throw new BadPlaintext("text message needs a string body");
    if (!Number.isSafeInteger(message.sent_at) || message.sent_at < 0) {
      throw new BadPlaintext("text message needs an integer sent_at");
    }
  }
  return message;
}

export function serializeMessage(message) {
  checkMessage(message);
  return utf8Encode(JSON.stringify(message));
}

export function parseMessage(bytes) {
  let message;
  try {
    message = JSON.parse(utf8Decode(bytes));
  } catch {
    throw new BadPlaintext("plaintext is not UTF-8 JSON");
  }
  return checkMessage(message);
}

// --- Envelope ---------------------------------------------------------------------------------

/** S("jmdchat/v1/msg-header", 1, conv, epoch, mid, sender, skid): the AES-GCM AAD. */
export function messageHeader(conv, epoch, mid, sender, skid) {
  return encodeStruct("jmdchat/v1/msg-header", ENVELOPE_VERSION, conv, epoch, mid, sender, skid);
}

/** S("jmdchat/v1/msg-sig", header, nonce, ct): what the sender signs. */
export function messageSignedBytes(env) {
  return encodeStruct("jmdchat/v1/msg-sig",
    messageHeader(env.conv, env.epoch, env.mid, env.sender, env.skid), env.nonce, env.ct);
}

/** Refuse anything that is not a well-formed version-1 envelope (section 8.4). Returns a frozen
 * object with nonce / ct / sig decoded to bytes. Throws MalformedEnvelope. */
export function validateEnvelopeShape(obj) {
  try {
    if (!hasExactKeys(obj, ENVELOPE_KEYS)) {
      throw new InvalidInput("envelope must have exactly the documented keys");
    }
    if (checkInt(obj.v, 0, MAX_SAFE_INT, "v") !== ENVELOPE_VERSION) {
      throw new InvalidInput("unsupported envelope version");
    }
    if (typeof obj.ct !== "string" || obj.ct.length > MAX_CT_B64) throw new InvalidInput("ct too long");
    const ct = b64urlDecode(obj.ct);
    if (ct.length < MIN_CT || ct.length > MAX_CT || (ct.length - TAG_LEN) % PAD_BLOCK !== 0) {
      throw new InvalidInput("ct length is not a padded message length");
    }
    return Object.freeze({
      v: ENVELOPE_VERSION,
      conv: checkId(obj.conv, "conv"),
      epoch: checkInt(obj.epoch, 1, MAX_EPOCH, "epoch"),
      mid: checkMid(obj.mid),
      sender: checkId(obj.sender, "sender"),
      skid: checkKeyId(obj.skid, "skid"),
      nonce: b64urlDecode(obj.nonce, NONCE_LEN),
      ct,
      sig: b64urlDecode(obj.sig, SIG_LEN),
    });
  } catch (err) {
    if (err instanceof InvalidInput) throw new MalformedEnvelope(err.message);
    throw err;
  }
}

/**
 * Deterministic variant over already-serialised plaintext bytes. FOR TEST VECTORS ONLY.
 * `signer` is an identity from importKeyPairs / unwrapIdentity.
 */
export async function encryptEnvelopeWith({
  conversationId, epoch, epochKey, senderId, signer, plaintext, mid, nonce,
}) {
  parseMessage(plaintext); // never send something the receiver would refuse
  const env = {
    v: ENVELOPE_VERSION,
    conv: checkId(conversationId, "conversation id"),
    epoch: checkInt(epoch, 1, MAX_EPOCH, "epoch"),
    mid: checkMid(mid),
    sender: checkId(senderId, "sender id"),
    skid: await keyId("ed25519", signer.ed25519.publicKey),
    nonce: checkBytes(nonce, NONCE_LEN, "nonce"),
  };
  const header = messageHeader(env.conv, env.epoch, env.mid, env.sender, env.skid);
  env.ct = await aesGcmEncrypt(epochKey, env.nonce, pad(plaintext), header);
  const sig = await ed25519Sign(signer.ed25519.privateKey, messageSignedBytes(env));
  return {
    v: env.v, conv: env.conv, epoch: env.epoch, mid: env.mid, sender: env.sender, skid: env.skid,
    nonce: b64urlEncode(env.nonce), ct: b64urlEncode(env.ct), sig: b64urlEncode(sig),
  };
}

/**
 * Encrypt and sign one message. `epochKey` is a CryptoKey (or 32 raw bytes); `message` e.g.
 * {type: "text", body, sent_at: Date.now()}. Returns the envelope as a JSON-ready object.
 */
export async function encryptMessage({
  conversationId, epoch, epochKey, senderId, signer, message, mid = undefined,
}) {
  return encryptEnvelopeWith({
    conversationId, epoch, epochKey, senderId, signer,
    plaintext: serializeMessage(message),
    mid: mid ?? globalThis.crypto.randomUUID(),
    nonce: randomBytes(NONCE_LEN),
  });
}

function lookupEpochKey(epochKeys, epoch) {
  if (epochKeys instanceof Map) return epochKeys.get(epoch);
  return Object.hasOwn(epochKeys, epoch) ? epochKeys[epoch] : undefined;
}

async function resolveSigner(resolveSigningKey, account, skid) {
  const resolved = await resolveSigningKey(account, skid);
  if (resolved === null || resolved === undefined) {
    throw new UnknownSender("signing key not trusted for this conversation");
  }
  let publicKey;
  try {
    publicKey = checkBytes(resolved, KEY_LEN);
  } catch {
    throw new UnknownSender("resolver returned an invalid key");
  }
  if ((await keyId("ed25519", publicKey)) !== skid) {
    throw new UnknownSender("signing key does not match skid");
  }
  return publicKey;
}

/**
 * Verify and decrypt in the order of section 8.3. `epochKeys`: Map or object epoch -> key;
 * `resolveSigningKey(accountId, skid)` returns the raw Ed25519 public key trusted for that account
 * in THIS conversation (certified counsellor of the site or the young person's TOFU key), or
 * null. Returns { envelope, message }; every failure throws a distinct typed error.
 */
export async function openEnvelope(envelope, { conversationId, epochKeys, resolveSigningKey }) {
  const env = validateEnvelopeShape(envelope);
  if (env.conv !== conversationId) {
    throw new WrongConversation("envelope belongs to another conversation");
  }
  const key = lookupEpochKey(epochKeys, env.epoch);
  if (key === undefined || key === null) throw new UnknownEpoch(`no key for epoch ${env.epoch}`);
  const publicKey = await resolveSigner(resolveSigningKey, env.sender, env.skid);
  // Signature before decryption: nothing unauthenticated reaches the AEAD or the JSON parser.
  if (!(await ed25519Verify(publicKey, env.sig, messageSignedBytes(env)))) {
    throw new BadSignature("message signature invalid");
  }
  const header = messageHeader(env.conv, env.epoch, env.mid, env.sender, env.skid);
  const padded = await aesGcmDecrypt(key, env.nonce, env.ct, header);
  return { envelope: env, message: parseMessage(unpad(padded)) };
}

// --- Conversation key shares (section 8.2) ----------------------------------------------------

function shareBoxAad(s) {
  return encodeStruct("jmdchat/v1/conv-key-box", s.conv, s.epoch, s.to, s.sender, s.fskid);
}

function shareSignedBytes(s) {
  return encodeStruct("jmdchat/v1/conv-key-share", ENVELOPE_VERSION, s.conv, s.epoch, s.to,
    s.sender, s.fskid, s.box);
}

export function validateKeyShareShape(obj) {
  try {
    if (!hasExactKeys(obj, SHARE_KEYS)) {
      throw new InvalidInput("key share must have exactly the documented keys");
    }
    if (checkInt(obj.v, 0, MAX_SAFE_INT, "v") !== ENVELOPE_VERSION) {
      throw new InvalidInput("unsupported key share version");
    }
    return Object.freeze({
      conv: checkId(obj.conv, "conv"),
      epoch: checkInt(obj.epoch, 1, MAX_EPOCH, "epoch"),
      to: checkKeyId(obj.to, "to"),
      sender: checkId(obj.from, "from"),
      fskid: checkKeyId(obj.fskid, "fskid"),
      box: b64urlDecode(obj.box, SHARE_BOX_LEN),
      sig: b64urlDecode(obj.sig, SIG_LEN),
    });
  } catch (err) {
    if (err instanceof InvalidInput) throw new MalformedEnvelope(err.message);
    throw err;
  }
}

async function sealShare({ conversationId, epoch, key, recipientX25519Public, senderId, signer },
  sealFn) {
  const s = {
    conv: checkId(conversationId, "conversation id"),
    epoch: checkInt(epoch, 1, MAX_EPOCH, "epoch"),
    to: await keyId("x25519", recipientX25519Public),
    sender: checkId(senderId, "sender id"),
    fskid: await keyId("ed25519", signer.ed25519.publicKey),
  };
  s.box = await sealFn(checkBytes(key, KEY_LEN, "conversation key"), shareBoxAad(s));
  const sig = await ed25519Sign(signer.ed25519.privateKey, shareSignedBytes(s));
  return {
    v: ENVELOPE_VERSION, conv: s.conv, epoch: s.epoch, to: s.to, from: s.sender, fskid: s.fskid,
    box: b64urlEncode(s.box), sig: b64urlEncode(sig),
  };
}

/** Seal an epoch key (32 raw bytes) to one recipient X25519 key, signed by `signer` as
 * `senderId`. Returns the share as a JSON-ready object. */
export async function sealConversationKey(args) {
  return sealShare(args, (key, aad) => seal(args.recipientX25519Public, key, aad));
}

/** Deterministic variant (args.ephPrivate, args.nonce). FOR TEST VECTORS ONLY. */
export async function sealConversationKeyWith(args) {
  return sealShare(args,
    (key, aad) => sealWith(args.recipientX25519Public, key, aad, args.ephPrivate, args.nonce));
}

/**
 * Verify the distributor's signature, then open the box. `recipient` is an identity or site key
 * pair set (uses recipient.x25519). Returns { conv, epoch, sender, key: non-extractable
 * CryptoKey }.
 */
export async function openConversationKey(share, { conversationId, recipient, resolveSigningKey }) {
  const s = validateKeyShareShape(share);
  if (s.conv !== conversationId) {
    throw new WrongConversation("key share belongs to another conversation");
  }
  if (s.to !== (await keyId("x25519", recipient.x25519.publicKey))) {
    throw new WrongRecipient("key share addressed to another key");
  }
  const publicKey = await resolveSigner(resolveSigningKey, s.sender, s.fskid);
  if (!(await ed25519Verify(publicKey, s.sig, shareSignedBytes(s)))) {
    throw new BadSignature("key share signature invalid");
  }
  const raw = await openSealed(recipient.x25519, s.box, shareBoxAad(s));
  try {
    if (raw.length !== KEY_LEN) throw new BadCiphertext("conversation key has the wrong length");
    return { conv: s.conv, epoch: s.epoch, sender: s.sender, key: await importAesKey(raw) };
  } finally {
    raw.fill(0);
  }
}

/**
 * Handover (docs/protocol.md 8.7): open a share addressed to `recipient` (signature verified
 * first, exactly as openConversationKey) and seal the same epoch key to `recipientX25519Public`,
 * signed by `signer` as `senderId`. The raw key never leaves this function. Returns the new
 * share as a JSON-ready object.
 */
export async function resealConversationKey(share, {
  conversationId, recipient, resolveSigningKey, recipientX25519Public, senderId, signer,
}) {
  const s = validateKeyShareShape(share);
  if (s.conv !== conversationId) {
    throw new WrongConversation("key share belongs to another conversation");
  }
  if (s.to !== (await keyId("x25519", recipient.x25519.publicKey))) {
    throw new WrongRecipient("key share addressed to another key");
  }
  const publicKey = await resolveSigner(resolveSigningKey, s.sender, s.fskid);
  if (!(await ed25519Verify(publicKey, s.sig, shareSignedBytes(s)))) {
    throw new BadSignature("key share signature invalid");
  }
  const raw = await openSealed(recipient.x25519, s.box, shareBoxAad(s));
  try {
    if (raw.length !== KEY_LEN) throw new BadCiphertext("conversation key has the wrong length");
    return await sealConversationKey({
      conversationId, epoch: s.epoch, key: raw, recipientX25519Public, senderId, signer,
    });
  } finally {
    raw.fill(0);
  }
}
