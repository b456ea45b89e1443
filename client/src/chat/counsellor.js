// Counsellor tools next to a conversation: canned responses (per site, sealed to the site key;
// personal ones sealed to my own key), private notes (sealed to the site key: only counsellors
// of the site can read them) and the absence notice.
//
// Sealed items travel as base64url(UTF-8(JSON {v: 1, site_id?, kv?, box})), the box being a
// sealed box (docs/protocol.md section 6) over a small JSON text, with associated data that
// binds it to its place (conversation / site / owner), so the server cannot move it elsewhere.
// Note: a sealed box does not authenticate its author; see the report in the issue.

import * as sock from "../net/socket.js";
import {
  b64urlDecode, b64urlEncode, encodeStruct, openSealed, seal, utf8Decode, utf8Encode,
} from "../crypto/protocol.js";
import { directionOf } from "../i18n/bidi.js";
import { myIdentity, siteCertificates, siteKey } from "./keys.js";

function wrap(obj) {
  return b64urlEncode(utf8Encode(JSON.stringify(obj)));
}

function unwrap(text) {
  return JSON.parse(utf8Decode(b64urlDecode(text)));
}

async function newestSiteCert(siteId) {
  const certs = await siteCertificates(siteId);
  if (!certs.length) throw new Error("no certified site key");
  const active = certs.filter((c) => c.active !== false);
  return (active.length ? active : certs).reduce((a, b) => (b.version > a.version ? b : a));
}

async function sealToSite(siteId, aadFor, content) {
  const { version, cert } = await newestSiteCert(siteId);
  const box = await seal(cert.x25519Public, utf8Encode(JSON.stringify(content)), aadFor(version));
  return { sealed: wrap({ v: 1, site_id: siteId, kv: version, box: b64urlEncode(box) }), version };
}

async function openFromSite(sealed, aadFor) {
  const outer = unwrap(sealed);
  const opened = await siteKey(outer.site_id, outer.kv);
  if (!opened) throw new Error("site key not available");
  const plain = await openSealed(opened.keys.x25519, b64urlDecode(outer.box), aadFor(outer.site_id, outer.kv));
  return JSON.parse(utf8Decode(plain));
}

// --- notes -----------------------------------------------------------------------------------

const noteAad = (conversationId) => (siteId, kv) => encodeStruct("jmdchat/v1/site-note", conversationId, siteId, kv);

export async function addNote(conversationId, siteId, text) {
  const { account } = await myIdentity();
  const { sealed, version } = await sealToSite(siteId, (kv) => noteAad(conversationId)(siteId, kv),
    { type: "note", body: text, author: account.display_name || account.nickname, at: Date.now() });
  return sock.request("note.add", { conversation_id: conversationId, sealed_note: sealed, site_key_version: version });
}

export async function listNotes(conversationId) {
  const ack = await sock.request("note.list", { conversation_id: conversationId }, { retries: 1 });
  const out = [];
  for (const note of ack.notes || ack.items || []) {
    const sealed = note.sealed_note || note.sealed;
    try {
      const content = await openFromSite(sealed, noteAad(conversationId));
      out.push({ id: note.id, author: note.author_display_name || content.author || "", createdAt: note.created_at || content.at, text: content.body, dir: directionOf(content.body) });
    } catch (error) {
      out.push({ id: note.id, createdAt: note.created_at, error: error.code || "bad_note" });
    }
  }
  return out;
}

// --- canned responses ------------------------------------------------------------------------

const cannedSiteAad = (language) => (siteId, kv) => encodeStruct("jmdchat/v1/canned", `site:${siteId}`, kv, language);
const cannedOwnAad = (accountId, language) => encodeStruct("jmdchat/v1/canned", `account:${accountId}`, 0, language);

/** {site_id?, language, title, body} → canned.save */
export async function saveCanned({ id = undefined, siteId = null, language, title, body }) {
  const { account, identity } = await myIdentity();
  const content = { type: "canned", title, body };
  let sealed;
  let version = null;
  if (siteId) {
    ({ sealed, version } = await sealToSite(siteId, (kv) => cannedSiteAad(language)(siteId, kv), content));
  } else {
    const box = await seal(identity.x25519.publicKey, utf8Encode(JSON.stringify(content)), cannedOwnAad(account.id, language));
    sealed = wrap({ v: 1, box: b64urlEncode(box) });
  }
  const payload = { language, sealed };
  if (id) payload.id = id;
  if (siteId) { payload.site_id = siteId; payload.site_key_version = version; }
  return sock.request("canned.save", payload);
}

export async function deleteCanned(id) {
  return sock.request("canned.delete", { id });
}

/** Every canned response I can read (the site's and my own), decrypted. */
export async function listCanned(siteId = null) {
  const { account, identity } = await myIdentity();
  const ack = await sock.request("canned.list", siteId ? { site_id: siteId } : {}, { retries: 1 });
  const out = [];
  for (const item of ack.items || ack.canned || []) {
    try {
      let content;
      const outer = unwrap(item.sealed);
      if (outer.site_id) {
        content = await openFromSite(item.sealed, cannedSiteAad(item.language));
      } else {
        const plain = await openSealed(identity.x25519, b64urlDecode(outer.box), cannedOwnAad(account.id, item.language));
        content = JSON.parse(utf8Decode(plain));
      }
      out.push({ id: item.id, siteId: outer.site_id || null, language: item.language, title: content.title || "", body: content.body || "", dir: directionOf(content.body || "") });
    } catch (error) {
      console.warn("canned response refused", item.id, error.code || error);
    }
  }
  return out;
}

// --- absence ---------------------------------------------------------------------------------

/** `until`: a Date, an ISO string, or null (back). */
export async function setAbsence(until) {
  const value = until ? new Date(until).toISOString() : null;
  return sock.request("absence.set", { until: value });
}
