// Chat rounds: epoch-key shares and message envelopes (docs/protocol.md 8.6). Mirrors
// server/crypto/rounds.py: the JSON shapes and validators of conversations, with the round
// labels (jmdchat/v1/round-…), so a round message never opens as a 1:1 message.
//
// No plaintext fallback: every failure throws a typed CryptoError.

import {
  ENVELOPE_VERSION, MAX_EPOCH, pad, unpad, parseMessage, serializeMessage,
  validateEnvelopeShape, validateKeyShareShape,
} from "../crypto/conversation.js";
import { b64urlEncode, checkBytes, checkId, checkInt, encodeStruct } from "../crypto/encoding.js";
import {
  BadCiphertext, BadSignature, UnknownEpoch, UnknownSender, WrongConversation, WrongRecipient,
} from "../crypto/errors.js";
import { keyId } from "../crypto/keys.js";
import {
  KEY_LEN, NONCE_LEN, aesGcmDecrypt, aesGcmEncrypt, ed25519Sign, ed25519Verify, importAesKey,
  openSealed, randomBytes, seal,
} from "../crypto/primitives.js";

function header(roundId, epoch, mid, sender, skid) {
  return encodeStruct("jmdchat/v1/round-msg-header", ENVELOPE_VERSION, roundId, epoch, mid, sender, skid);
}

function signedBytes(env) {
  return encodeStruct("jmdchat/v1/round-msg-sig",
    header(env.conv, env.epoch, env.mid, env.sender, env.skid), env.nonce, env.ct);
}

function boxAad(s) {
  return encodeStruct("jmdchat/v1/round-key-box", s.conv, s.epoch, s.to, s.sender, s.fskid);
}

function shareSigned(s) {
  return encodeStruct("jmdchat/v1/round-key-share", ENVELOPE_VERSION, s.conv, s.epoch, s.to,
    s.sender, s.fskid, s.box);
}

/** A fresh random epoch key (32 bytes): seal it to everyone, import it, drop the bytes. */
export function newRoundKey() {
  return randomBytes(KEY_LEN);
}

/** Encrypt and sign one round message as `memberId`; returns the JSON-ready envelope. */
export async function encryptRoundMessage({ roundId, epoch, epochKey, memberId, signer, message }) {
  const env = {
    v: ENVELOPE_VERSION,
    conv: checkId(roundId, "round id"),
    epoch: checkInt(epoch, 1, MAX_EPOCH, "epoch"),
    mid: globalThis.crypto.randomUUID(),
    sender: checkId(memberId, "sender id"),
    skid: await keyId("ed25519", signer.ed25519.publicKey),
    nonce: randomBytes(NONCE_LEN),
  };
  env.ct = await aesGcmEncrypt(epochKey, env.nonce, pad(serializeMessage(message)),
    header(env.conv, env.epoch, env.mid, env.sender, env.skid));
  const sig = await ed25519Sign(signer.ed25519.privateKey, signedBytes(env));
  return {
    v: env.v, conv: env.conv, epoch: env.epoch, mid: env.mid, sender: env.sender, skid: env.skid,
    nonce: b64urlEncode(env.nonce), ct: b64urlEncode(env.ct), sig: b64urlEncode(sig),
  };
}

async function trusted(resolveSigningKey, member, skid) {
  const key = await resolveSigningKey(member, skid);
  if (!key) throw new UnknownSender("signing key not trusted for this round");
  const publicKey = checkBytes(key, KEY_LEN, "signing key");
  if ((await keyId("ed25519", publicKey)) !== skid) throw new UnknownSender("signing key does not match skid");
  return publicKey;
}

/** Verify and decrypt (order of protocol 8.3). `epochKeys`: Map epoch -> CryptoKey. */
export async function openRoundEnvelope(envelope, { roundId, epochKeys, resolveSigningKey }) {
  const env = validateEnvelopeShape(envelope);
  if (env.conv !== roundId) throw new WrongConversation("envelope belongs to another round");
  const key = epochKeys.get(env.epoch);
  if (!key) throw new UnknownEpoch(`no key for epoch ${env.epoch}`);
  const publicKey = await trusted(resolveSigningKey, env.sender, env.skid);
  if (!(await ed25519Verify(publicKey, env.sig, signedBytes(env)))) throw new BadSignature("message signature invalid");
  const padded = await aesGcmDecrypt(key, env.nonce, env.ct, header(env.conv, env.epoch, env.mid, env.sender, env.skid));
  return { envelope: env, message: parseMessage(unpad(padded)) };
}

/** Seal an epoch key (raw bytes) to a participant's X25519 key, signed as `memberId`. */
export async function sealRoundKey({ roundId, epoch, key, recipientX25519Public, memberId, signer }) {
  const s = {
    conv: checkId(roundId, "round id"),
    epoch: checkInt(epoch, 1, MAX_EPOCH, "epoch"),
    to: await keyId("x25519", recipientX25519Public),
    sender: checkId(memberId, "sender id"),
    fskid: await keyId("ed25519", signer.ed25519.publicKey),
  };
  s.box = await seal(recipientX25519Public, checkBytes(key, KEY_LEN, "round key"), boxAad(s));
  const sig = await ed25519Sign(signer.ed25519.privateKey, shareSigned(s));
  return {
    v: ENVELOPE_VERSION, conv: s.conv, epoch: s.epoch, to: s.to, from: s.sender, fskid: s.fskid,
    box: b64urlEncode(s.box), sig: b64urlEncode(sig),
  };
}

/** Verify the moderator's signature, then open the box: {epoch, sender, key: CryptoKey}. */
export async function openRoundKey(share, { roundId, recipient, resolveSigningKey }) {
  const s = validateKeyShareShape(share);
  if (s.conv !== roundId) throw new WrongConversation("key share belongs to another round");
  if (s.to !== (await keyId("x25519", recipient.x25519.publicKey))) throw new WrongRecipient("key share addressed to another key");
  const publicKey = await trusted(resolveSigningKey, s.sender, s.fskid);
  if (!(await ed25519Verify(publicKey, s.sig, shareSigned(s)))) throw new BadSignature("key share signature invalid");
  const raw = await openSealed(recipient.x25519, s.box, boxAad(s));
  try {
    if (raw.length !== KEY_LEN) throw new BadCiphertext("round key has the wrong length");
    return { epoch: s.epoch, sender: s.sender, key: await importAesKey(raw) };
  } finally {
    raw.fill(0);
  }
}
