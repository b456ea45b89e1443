// A young person's new enquiry (docs/socket-events.md, docs/protocol.md section 8):
//
//   GET /api/route → the site and its key certificate → verify the certificate against the
//   organisation key (refuse loudly on any failure; there is no unencrypted path) → a fresh
//   epoch-1 key, sealed to myself and to the certified site key, signed by me → the first
//   message encrypted and signed → `enquiry.create`.
//
// The conversation id is chosen here (a UUID) because the key shares and the first envelope
// must be bound to it before the server has seen anything; the server takes it from
// `first_message.conv`.

import { api } from "../net/api.js";
import * as sock from "../net/socket.js";
import {
  encryptMessage, importConversationKey, newConversationKey, sealConversationKey,
} from "../crypto/protocol.js";
import { t } from "../i18n/i18n.js";
import { encodeShare, myIdentity, rememberEpochKey, verifySiteCertificate } from "./keys.js";
import { conversation, ChatError } from "./store.js";

/** Where an enquiry would go: {site, reason, site_key}. */
export async function findRoute({ location, language, topic }) {
  const params = new URLSearchParams();
  params.set("location", location || "");
  params.set("language", language || "");
  params.set("topic", topic || "");
  return api.get(`/api/route?${params}`);
}

/**
 * Build the encrypted `enquiry.create` payload. Throws ChatError("site_key_untrusted") when the
 * site key is not certified by the organisation: then nothing is sent at all.
 */
export async function prepareEnquiry({ route, topic, language, location, text }) {
  const { account, identity } = await myIdentity();
  let cert;
  try {
    cert = await verifySiteCertificate(route.site.id, route.site_key);
  } catch (error) {
    console.error("site certificate refused", error.code || error);
    throw new ChatError("site_key_untrusted", t("We could not confirm that this counselling site's key is genuine, so your message was NOT sent. Nothing has left your phone. Please try again later or contact us."));
  }
  const conversationId = crypto.randomUUID();
  const raw = newConversationKey();
  let epochKey;
  let shares;
  try {
    const common = { conversationId, epoch: 1, key: raw, senderId: account.id, signer: identity };
    shares = [
      { recipient: "self", sealed: encodeShare(await sealConversationKey({ ...common, recipientX25519Public: identity.x25519.publicKey })) },
      { recipient: "site", site_key_version: cert.keyVersion, sealed: encodeShare(await sealConversationKey({ ...common, recipientX25519Public: cert.x25519Public })) },
    ];
    epochKey = await importConversationKey(raw);
  } finally {
    raw.fill(0);
  }
  const envelope = await encryptMessage({
    conversationId, epoch: 1, epochKey, senderId: account.id, signer: identity,
    message: { type: "text", body: text, sent_at: Date.now() },
  });
  const payload = { topic, language, epoch_keys: shares, first_message: envelope, site_id: route.site.id };
  if (location) payload.location = location;
  return { conversationId, epochKey, payload };
}

/** Send a prepared enquiry (the same payload again after a failure: same ids, no duplicate). */
export async function sendEnquiry(prepared) {
  const ack = await sock.request("enquiry.create", prepared.payload, { timeout: 20000 });
  const summary = ack.conversation;
  if (!summary || summary.id !== prepared.conversationId) {
    throw new ChatError("conversation_id_mismatch", t("The server answered with another conversation than the one your phone encrypted for. For your safety we stopped here. Please contact us."));
  }
  rememberEpochKey(summary.id, 1, prepared.epochKey);
  const conv = conversation(summary.id);
  conv.setSummary(summary);
  return conv;
}
