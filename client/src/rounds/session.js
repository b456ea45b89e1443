// One chat round as this device takes part in it (docs/socket-events.md "Chat rounds",
// docs/protocol.md 8.6): join, epoch keys (in memory, non-extractable), members, live events,
// sending, leaving, and — on a counsellor's device — moderation and re-keying.
//
// Trust: key shares are accepted only from a counsellor member whose organisation certificate
// (for the round's site) certifies the signing key; messages only with a valid signature of the
// member named as sender. Young people's keys are trust-on-first-use, pinned per viewer, round and
// member in IndexedDB (the pins store of the 1:1 conversations, chat/db.js): the first keys seen
// for a member are kept; if the server later lists other keys for that member, the member is
// marked `keyChanged`, their messages are verified against the pinned key only, and a
// moderator's device seals no new epoch until a moderator decides (trust the new key, or
// remove the participant) — docs/protocol.md 8.6.

import * as sock from "../net/socket.js";
import { api } from "../net/api.js";
import { b64urlDecode, b64urlEncode, verifyCertificate } from "../crypto/protocol.js";
import { importConversationKey } from "../crypto/conversation.js";
import { certificateObject, myIdentity, orgPublicKey } from "../chat/keys.js";
import { pinKey, pinnedKey } from "../chat/db.js";
import {
  encryptRoundMessage, newRoundKey, openRoundEnvelope, openRoundKey, sealRoundKey,
} from "./crypto.js";

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class RoundSession {
  constructor(roundId) {
    this.roundId = roundId;
    this.round = null;
    this.me = null;
    this.moderator = false;
    this.members = new Map(); // member_id -> Member
    this.keys = new Map(); // epoch -> CryptoKey
    this.messages = new Map(); // seq -> {seq, epoch, kind, senderId, text?, system?, error?}
    this.rekeyNeeded = false;
    this.departurePending = false;
    this.removed = false;
    this.left = false;
    this.listeners = new Set();
    this.offs = [];
    this.trustCache = new Map();
    this.rekeying = false;
    this.rekeyAgain = false;
    this.lastSeq = 0;
    this.identity = null;
    this.viewerId = null;
    this.pins = new Map(); // member_id -> {ed25519, x25519} (base64url) as pinned on this device
    this.keyChanged = new Map(); // member_id -> {ed25519, x25519} the server lists now instead
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  changed(kind) {
    for (const fn of this.listeners) {
      try { fn(kind); } catch (error) { console.error(error); }
    }
  }

  /** Live events and re-join after every reconnect. */
  listen() {
    this.offs.push(sock.on("round.members", (e) => this.onMembers(e).catch((error) => console.error(error))));
    this.offs.push(sock.on("round.message", (e) => { if (e.round_id === this.roundId) this.addMessages([e.message]); }));
    this.offs.push(sock.on("round.key", (e) => { if (e.round_id === this.roundId) this.takeShares([{ epoch: e.epoch, sealed: e.sealed }]); }));
    this.offs.push(sock.on("round.removed", (e) => {
      if (e.round_id !== this.roundId) return;
      this.removed = true;
      this.stopLive();
      this.changed("removed");
    }));
    this.offs.push(sock.onConnected(async () => {
      if (this.me && !this.left && !this.removed) await this.join(true).catch(() => {});
    }));
  }

  stopLive() {
    for (const off of this.offs.splice(0)) off();
  }

  dispose() { this.stopLive(); this.listeners.clear(); }

  async join(rulesAccepted) {
    if (!this.identity) {
      const mine = await myIdentity();
      this.identity = mine.identity;
      this.viewerId = mine.account.id;
    }
    const ack = await sock.request("round.join", {
      round_id: this.roundId, rules_accepted: Boolean(rulesAccepted), after_seq: this.lastSeq,
    }, { retries: 2 });
    this.apply(ack);
    await this.checkPins();
    await this.takeShares(ack.keys || []);
    await this.addMessages(ack.messages || []);
    this.changed("state");
    this.maybeRekey();
    return ack;
  }

  /** Look without joining (young people before accepting the rules). */
  async peek() {
    const list = await api.get("/api/rounds?all=1");
    this.round = (list.items || []).find((r) => r.id === this.roundId) || null;
    this.changed("state");
    return this.round;
  }

  apply(ack) {
    this.round = ack.round;
    this.me = ack.me;
    this.moderator = Boolean(ack.moderator);
    this.rekeyNeeded = Boolean(ack.rekey_needed);
    this.departurePending = Boolean(ack.departure_pending);
    this.setMembers(ack.members || []);
  }

  setMembers(members) {
    this.members = new Map(members.map((m) => [m.member_id, m]));
    if (this.me) {
      const mine = this.members.get(this.me.member_id);
      if (mine) this.me = { ...this.me, state: mine.state, muted: mine.muted, from_epoch: mine.from_epoch };
    }
  }

  async onMembers(event) {
    if (event.round_id !== this.roundId || this.left || this.removed) return;
    // State first, in arrival order (the pin check below awaits IndexedDB, and a later event
    // may be handled meanwhile); re-keying is decided after the pins were checked.
    this.setMembers(event.members);
    if (this.round) this.round = { ...this.round, current_epoch: event.current_epoch };
    this.rekeyNeeded = event.rekey_needed;
    this.departurePending = event.departure_pending;
    await this.checkPins();
    this.changed("members");
    this.maybeRekey();
  }

  // --- trust ---------------------------------------------------------------------------------

  /** Trust on first use for young people's keys (see the top of this file). */
  async checkPins() {
    if (!this.viewerId) return;
    for (const m of this.members.values()) {
      if (m.role !== "young_person" || !["waiting", "admitted"].includes(m.state)) continue;
      if (this.me && m.member_id === this.me.member_id) continue;
      const listed = { ed25519: m.ed25519_public, x25519: m.x25519_public };
      let pinned = this.pins.get(m.member_id);
      if (!pinned) {
        const subject = pinSubject(this.roundId, m.member_id);
        const [ed, x] = await Promise.all([
          pinnedKey(this.viewerId, subject), pinnedKey(this.viewerId, `${subject}:x25519`),
        ]);
        // First sight of this member on this device: pin what is listed now.
        if (!ed) await pinKey(this.viewerId, subject, b64urlDecode(listed.ed25519, 32));
        if (!x) await pinKey(this.viewerId, `${subject}:x25519`, b64urlDecode(listed.x25519, 32));
        pinned = { ed25519: ed ? b64urlEncode(ed) : listed.ed25519, x25519: x ? b64urlEncode(x) : listed.x25519 };
        this.pins.set(m.member_id, pinned);
      }
      if (pinned.ed25519 !== listed.ed25519 || pinned.x25519 !== listed.x25519) {
        if (!this.keyChanged.has(m.member_id)) {
          console.warn("round member key changed", m.member_id);
          this.keyChanged.set(m.member_id, listed);
          this.changed("key_changed");
        }
      } else {
        this.keyChanged.delete(m.member_id);
      }
    }
  }

  /** Active members whose listed keys differ from the keys pinned on this device. */
  changedMembers() {
    return [...this.keyChanged.keys()].map((id) => this.members.get(id))
      .filter((m) => m && ["waiting", "admitted"].includes(m.state));
  }

  /** The viewer decided to trust the keys the server lists now for `memberId` (pinned again). */
  async trustNewKey(memberId) {
    const member = this.members.get(memberId);
    if (!member || !this.viewerId) return;
    const subject = pinSubject(this.roundId, memberId);
    await pinKey(this.viewerId, subject, b64urlDecode(member.ed25519_public, 32));
    await pinKey(this.viewerId, `${subject}:x25519`, b64urlDecode(member.x25519_public, 32));
    this.pins.set(memberId, { ed25519: member.ed25519_public, x25519: member.x25519_public });
    this.keyChanged.delete(memberId);
    for (const item of this.messages.values()) {
      if (item.kind === "message" && item.senderId === memberId && item.error) await this.open(item);
    }
    this.changed("members");
    this.maybeRekey();
  }

  /** A young member's keys as pinned (never the changed keys the server lists instead). */
  youngKeys(member) {
    const pinned = this.pins.get(member.member_id);
    return pinned || { ed25519: member.ed25519_public, x25519: member.x25519_public };
  }

  async signingKeyOf(memberId, { counsellorOnly = false } = {}) {
    const member = this.members.get(memberId);
    if (!member) return null;
    if (this.me && memberId === this.me.member_id) return this.identity.ed25519.publicKey;
    if (member.role === "counsellor") return (await this.counsellorKeys(member)).ed25519Public;
    if (counsellorOnly) return null;
    return b64urlDecode(this.youngKeys(member).ed25519, 32);
  }

  /** The certified keys of a counsellor member (the certificate must be for this site). */
  async counsellorKeys(member) {
    let found = this.trustCache.get(member.member_id);
    if (!found) {
      const cert = await verifyCertificate(certificateObject(member.certificate), await orgPublicKey(), nowSeconds(),
        { kind: "counsellor", siteId: this.round.site.id });
      if (b64urlDecodeEq(member.ed25519_public, cert.ed25519Public) === false ||
        b64urlDecodeEq(member.x25519_public, cert.x25519Public) === false) {
        const error = new Error("certificate does not match the listed keys");
        error.code = "bad_certificate";
        throw error;
      }
      found = cert;
      this.trustCache.set(member.member_id, found);
    }
    return found;
  }

  async takeShares(entries) {
    let added = false;
    for (const { epoch, sealed } of entries) {
      if (this.keys.has(epoch)) continue;
      try {
        const opened = await openRoundKey(sealed, {
          roundId: this.roundId, recipient: this.identity,
          resolveSigningKey: (member) => this.signingKeyOf(member, { counsellorOnly: true }),
        });
        this.keys.set(opened.epoch, opened.key);
        added = true;
      } catch (error) {
        console.error("round key refused", error);
      }
    }
    if (added) {
      await this.retryUnreadable();
      this.changed("keys");
    }
  }

  // --- messages ------------------------------------------------------------------------------

  async addMessages(list) {
    let added = false;
    for (const m of list) {
      if (this.messages.has(m.seq)) continue;
      this.lastSeq = Math.max(this.lastSeq, m.seq);
      const item = { seq: m.seq, epoch: m.epoch, kind: m.kind, senderId: m.sender, system: m.system, envelope: m.envelope, created_at: m.created_at };
      if (m.kind === "message") await this.open(item);
      this.messages.set(m.seq, item);
      added = true;
    }
    if (added) this.changed("messages");
  }

  async open(item) {
    try {
      const { message } = await openRoundEnvelope(item.envelope, {
        roundId: this.roundId, epochKeys: this.keys,
        resolveSigningKey: (member) => this.signingKeyOf(member),
      });
      item.text = typeof message.body === "string" ? message.body : "";
      item.error = null;
    } catch (error) {
      item.error = error.code || "bad_signature";
    }
  }

  async retryUnreadable() {
    for (const item of this.messages.values()) {
      if (item.kind === "message" && item.error === "unknown_epoch") await this.open(item);
    }
  }

  sorted() { return [...this.messages.values()].sort((a, b) => a.seq - b.seq); }

  get currentEpoch() { return this.round ? this.round.current_epoch : 0; }

  canSend() {
    return Boolean(this.me && this.me.state === "admitted" && !this.me.muted && !this.departurePending &&
      this.keys.has(this.currentEpoch) && this.round && !this.left && !this.removed);
  }

  async send(text) {
    const epoch = this.currentEpoch;
    const key = this.keys.get(epoch);
    const envelope = await encryptRoundMessage({
      roundId: this.roundId, epoch, epochKey: key, memberId: this.me.member_id, signer: this.identity,
      message: { type: "text", body: text, sent_at: Date.now() },
    });
    const ack = await sock.request("round.send", { round_id: this.roundId, envelope }, { retries: 1 });
    await this.addMessages([{ seq: ack.seq, mid: envelope.mid, sender: this.me.member_id, epoch, created_at: ack.created_at, kind: "message", envelope }]);
    return ack;
  }

  async leave() {
    await sock.request("round.leave", { round_id: this.roundId });
    this.left = true;
    this.stopLive();
    this.changed("left");
  }

  // --- moderation ------------------------------------------------------------------------------

  async mute(memberId, muted) {
    await sock.request("round.mute", { round_id: this.roundId, member_id: memberId, muted });
  }

  async remove(memberId) {
    await sock.request("round.remove", { round_id: this.roundId, member_id: memberId });
  }

  /** On a moderator's device: create the next epoch for exactly the active participants. */
  maybeRekey() {
    if (this.rekeying) {
      this.rekeyAgain = true; // membership changed while we were re-keying: look again after
      return;
    }
    if (!this.moderator || !this.me || this.left || !this.rekeyNeeded) return;
    if (!["waiting", "admitted"].includes(this.me.state)) return;
    if (this.round && this.round.state === "closed") return;
    // Never seal a new epoch to keys that changed behind the pins: a moderator decides first.
    if (this.changedMembers().length) return;
    this.rekeying = true;
    this.rekey().catch((error) => {
      console.error("re-key failed", error);
    }).finally(() => {
      this.rekeying = false;
      if (this.rekeyAgain) {
        this.rekeyAgain = false;
        this.maybeRekey();
      }
    });
  }

  async rekey() {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const epoch = this.currentEpoch + 1;
      const raw = newRoundKey();
      try {
        const active = [...this.members.values()].filter((m) => m.state === "waiting" || m.state === "admitted");
        if (this.changedMembers().length) return;
        const shares = [];
        for (const member of active) {
          const x25519 = member.role === "counsellor"
            ? (await this.counsellorKeys(member)).x25519Public
            : b64urlDecode(this.youngKeys(member).x25519, 32);
          shares.push({
            member_id: member.member_id,
            sealed: await sealRoundKey({
              roundId: this.roundId, epoch, key: raw, recipientX25519Public: x25519,
              memberId: this.me.member_id, signer: this.identity,
            }),
          });
        }
        await sock.request("round.rekey", { round_id: this.roundId, epoch, shares });
        this.keys.set(epoch, await importConversationKey(raw));
        if (this.round) this.round = { ...this.round, current_epoch: Math.max(this.round.current_epoch, epoch) };
        this.changed("keys");
        return;
      } catch (error) {
        if (!["stale_epoch", "members_changed"].includes(error.code)) throw error;
        const ack = await sock.request("round.join", { round_id: this.roundId, rules_accepted: true, after_seq: this.lastSeq });
        this.apply(ack);
        await this.checkPins();
        if (!this.rekeyNeeded) return;
      } finally {
        raw.fill(0);
      }
    }
  }
}

/** The pins-store subject of a round member (viewer id is the other half of the key). */
function pinSubject(roundId, memberId) {
  return `round:${roundId}:${memberId}`;
}

function b64urlDecodeEq(encoded, bytes) {
  try {
    const decoded = b64urlDecode(encoded, 32);
    if (!bytes || decoded.length !== bytes.length) return false;
    return decoded.every((b, i) => b === bytes[i]);
  } catch {
    return false;
  }
}
