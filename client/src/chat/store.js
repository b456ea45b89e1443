// The conversation store: one object per conversation with its summary, the messages this page
// has seen (by `mid`, so a replayed or resent message appears once), the highest contiguous
// sequence number (`lastSeq`, what we ask for after a reconnect), older pages, typing and read
// state. Views subscribe; nothing here touches the DOM.
//
// Messages are decrypted and verified on arrival (src/crypto: signature before decryption);
// one that fails is shown as "could not be verified", never as plaintext of unknown origin.

import * as sock from "../net/socket.js";
import { encryptMessage, openEnvelope } from "../crypto/protocol.js";
import { directionOf } from "../i18n/bidi.js";
import { t } from "../i18n/i18n.js";
import { epochKeysOf, myIdentity, notePeople, openShares, signingKeyResolver } from "./keys.js";
import { outboxDelete, outboxList, outboxPut } from "./db.js";

export const PAGE = 40;
const TYPING_SHOWN_MS = 7000;

export class ChatError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ChatError";
    this.code = code;
  }
}

const conversations = new Map();
const anyListeners = new Set();
let installed = false;
let me = null; // account id

function emitAny(event) {
  for (const fn of anyListeners) {
    try { fn(event); } catch (error) { console.error(error); }
  }
}

/** fn({type, conversation}) for every change of any conversation (lists, badges). */
export function onAnyChange(fn) {
  anyListeners.add(fn);
  return () => anyListeners.delete(fn);
}

function messageKey(m) {
  return m.mid || `seq:${m.seq}`;
}

export class Conversation {
  constructor(id) {
    this.id = id;
    this.summary = null;
    this.messages = new Map();
    this.lastSeq = null; // highest contiguous seq known; null until the first join decides
    this.pendingSeqs = new Set();
    this.oldestSeq = null;
    this.hasMoreBefore = false;
    this.joined = false;
    this.joining = null;
    this.loadingEarlier = null;
    this.typing = new Map(); // accountId -> timer
    this.peerReadSeq = 0;
    this.listeners = new Set();
    this.queue = Promise.resolve(); // ingestion in order
    this.refillTimer = null;
    this.outboxLoaded = false;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(type, detail = {}) {
    const event = { type, conversation: this, ...detail };
    for (const fn of this.listeners) {
      try { fn(event); } catch (error) { console.error(error); }
    }
    emitAny(event);
  }

  get siteId() {
    return this.summary && this.summary.site ? this.summary.site.id : null;
  }

  setSummary(summary) {
    if (!summary) return;
    // Broadcasts (conversation.updated to a room) carry null for the viewer's own fields.
    const next = { ...summary };
    for (const own of ["last_read_seq", "unread", "queue_position", "expected_answer"]) {
      if ((next[own] === null || next[own] === undefined) && this.summary) delete next[own];
    }
    if (next.status && next.status !== "waiting") { next.queue_position = null; next.expected_answer = null; }
    this.summary = { ...(this.summary || {}), ...next };
    notePeople(this.summary);
    const peer = summary.peer_last_read_seq ?? summary.other_last_read_seq ?? summary.peer_read_seq;
    if (Number.isInteger(peer) && peer > this.peerReadSeq) this.peerReadSeq = peer;
    this.emit("summary");
  }

  /** Messages in display order: by seq, unsent ones last in the order they were written. */
  sorted() {
    return [...this.messages.values()].sort((a, b) => {
      if (a.seq !== null && b.seq !== null) return a.seq - b.seq;
      if (a.seq !== null) return -1;
      if (b.seq !== null) return 1;
      return a.createdMs - b.createdMs;
    });
  }

  deliveryState(msg) {
    if (!msg.mine || msg.kind !== "message") return null;
    if (msg.failed) return "failed";
    if (msg.seq === null) return "sending";
    if (this.peerReadSeq >= msg.seq) return "read";
    return "sent";
  }

  // --- sequence numbers ------------------------------------------------------------------

  noteSeq(seq) {
    if (!Number.isInteger(seq) || this.lastSeq === null || seq <= this.lastSeq) return;
    this.pendingSeqs.add(seq);
    while (this.pendingSeqs.has(this.lastSeq + 1)) {
      this.lastSeq += 1;
      this.pendingSeqs.delete(this.lastSeq);
    }
    if (this.pendingSeqs.size) this.scheduleRefill();
  }

  // A gap (an event lost or overtaken): ask again for everything after lastSeq.
  scheduleRefill() {
    if (this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null;
      if (this.pendingSeqs.size && this.joined) this.join().catch(() => {});
    }, 400);
  }

  // --- joining, history ----------------------------------------------------------------

  /** Join the room and fetch what is new (after lastSeq); again after every reconnect. */
  join() {
    if (this.joining) return this.joining;
    this.joining = (async () => {
      if (this.lastSeq === null) {
        // First time: start at the end; older pages come with loadEarlier().
        const last = this.summary && Number.isInteger(this.summary.last_seq) ? this.summary.last_seq : 0;
        this.lastSeq = Math.max(0, last - PAGE);
        this.oldestSeq = this.lastSeq + 1;
        this.hasMoreBefore = this.lastSeq > 0;
      }
      for (let round = 0; round < 50; round++) {
        const before = this.lastSeq;
        const ack = await sock.request("conversation.join", { conversation_id: this.id, after_seq: this.lastSeq }, { retries: 2 });
        this.setSummary(ack.conversation);
        await this.addKeys(ack.keys);
        await this.ingest(ack.messages || []);
        if (!ack.has_more || this.lastSeq === before) break;
      }
      this.joined = true;
      this.pendingSeqs.clear();
      await this.loadOutbox();
      this.emit("joined");
    })().finally(() => { this.joining = null; });
    return this.joining;
  }

  async addKeys(keys) {
    if (!keys || !keys.length) return;
    try {
      await openShares(this.id, this.siteId, keys);
    } catch (error) {
      this.keyProblem = error;
      this.emit("keys", { error });
    }
  }

  /** Load one older page; resolves to the number of messages added. */
  loadEarlier() {
    if (!this.hasMoreBefore || this.oldestSeq === null || this.oldestSeq <= 1) {
      this.hasMoreBefore = false;
      return Promise.resolve(0);
    }
    if (this.loadingEarlier) return this.loadingEarlier;
    this.loadingEarlier = (async () => {
      const ack = await sock.request("message.history", { conversation_id: this.id, before_seq: this.oldestSeq, limit: PAGE }, { retries: 2 });
      const messages = ack.messages || [];
      await this.ingest(messages, { older: true });
      const seqs = messages.map((m) => m.seq).filter(Number.isInteger);
      if (seqs.length) this.oldestSeq = Math.min(this.oldestSeq, ...seqs);
      this.hasMoreBefore = Boolean(ack.has_more) && this.oldestSeq > 1;
      this.emit("messages", { older: true });
      return messages.length;
    })().finally(() => { this.loadingEarlier = null; });
    return this.loadingEarlier;
  }

  // --- incoming -------------------------------------------------------------------------

  ingest(stored, { older = false } = {}) {
    const run = this.queue.then(() => this.ingestNow(stored, older));
    this.queue = run.catch(() => {});
    return run;
  }

  async ingestNow(stored, older) {
    const added = [];
    for (const m of stored) {
      if (!m || !Number.isInteger(m.seq)) continue;
      const key = messageKey(m);
      const existing = this.messages.get(key);
      if (existing) {
        if (existing.seq === null) {
          existing.seq = m.seq;
          existing.createdAt = m.created_at || existing.createdAt;
          existing.failed = null;
          added.push(existing);
        }
        this.noteSeq(m.seq);
        continue;
      }
      const msg = await this.decode(m);
      this.messages.set(key, msg);
      if (!older && this.oldestSeq !== null && m.seq < this.oldestSeq) this.oldestSeq = m.seq;
      this.noteSeq(m.seq);
      added.push(msg);
    }
    if (added.length) this.emit("messages", { added, older });
    return added;
  }

  async decode(m) {
    const { account } = await myIdentity();
    const base = {
      key: messageKey(m), mid: m.mid || null, seq: m.seq, senderId: m.sender_id || null,
      createdAt: m.created_at || null, createdMs: Date.parse(m.created_at || "") || Date.now(),
      kind: m.kind === "system" ? "system" : "message", mine: m.sender_id === account.id,
      text: "", dir: "auto", system: null, error: null, failed: null,
    };
    if (base.kind === "system") return { ...base, system: m.system || { code: "unknown", params: {} } };
    try {
      const opened = await this.open(m.envelope);
      const body = opened.message.type === "text" ? opened.message.body : "";
      return { ...base, text: body, dir: directionOf(body), sentAt: opened.message.sent_at };
    } catch (error) {
      console.warn("message refused", m.seq, error.code || error);
      return { ...base, error: error.code || "bad_message" };
    }
  }

  async open(envelope) {
    let keys = epochKeysOf(this.id);
    if (envelope && !keys.has(envelope.epoch) && this.summary) {
      // A new epoch we have no key for yet (handover): ask the server for the shares again.
      await this.refreshKeys().catch(() => {});
      keys = epochKeysOf(this.id);
    }
    return openEnvelope(envelope, {
      conversationId: this.id, epochKeys: keys, resolveSigningKey: signingKeyResolver(this.siteId),
    });
  }

  async refreshKeys() {
    const ack = await sock.request("conversation.join", { conversation_id: this.id, after_seq: this.lastSeq ?? 0 }, { retries: 1 });
    this.setSummary(ack.conversation);
    await this.addKeys(ack.keys);
  }

  // --- outgoing -------------------------------------------------------------------------

  /** Encrypt, keep in the outbox (IndexedDB), show as "sending", try to send. */
  async send(text) {
    const body = String(text).replace(/\s+$/u, "");
    if (!body.trim()) return null;
    const { account, identity } = await myIdentity();
    const keys = epochKeysOf(this.id);
    const epoch = this.summary && Number.isInteger(this.summary.current_epoch) ? this.summary.current_epoch : Math.max(0, ...keys.keys());
    let epochKey = keys.get(epoch);
    if (!epochKey) {
      await this.refreshKeys().catch(() => {});
      epochKey = epochKeysOf(this.id).get(epoch);
    }
    if (!epochKey) throw new ChatError("no_key", t("This conversation's key is not on this device, so nothing can be sent. Please reload the page."));
    const mid = crypto.randomUUID();
    const now = Date.now();
    const envelope = await encryptMessage({
      conversationId: this.id, epoch, epochKey, senderId: account.id, signer: identity,
      message: { type: "text", body, sent_at: now }, mid,
    });
    await outboxPut({ mid, accountId: account.id, conversationId: this.id, envelope, createdAt: now });
    const msg = {
      key: mid, mid, seq: null, senderId: account.id, createdAt: new Date(now).toISOString(), createdMs: now,
      kind: "message", mine: true, text: body, dir: directionOf(body), system: null, error: null, failed: null,
    };
    this.messages.set(mid, msg);
    this.emit("messages", { added: [msg], sent: true });
    flushOutbox();
    return msg;
  }

  /** Show what is still in the outbox after a reload (our own envelopes, decrypted here). */
  async loadOutbox() {
    if (this.outboxLoaded) return;
    this.outboxLoaded = true;
    const { account } = await myIdentity();
    const added = [];
    for (const item of await outboxList(account.id)) {
      if (item.conversationId !== this.id || this.messages.has(item.mid)) continue;
      let text = "";
      let error = null;
      try {
        const opened = await this.open(item.envelope);
        text = opened.message.body || "";
      } catch (e) {
        error = e.code || "bad_message";
      }
      const msg = {
        key: item.mid, mid: item.mid, seq: null, senderId: account.id, createdAt: new Date(item.createdAt).toISOString(),
        createdMs: item.createdAt, kind: "message", mine: true, text, dir: directionOf(text), system: null, error,
        failed: item.failed || null,
      };
      this.messages.set(item.mid, msg);
      added.push(msg);
    }
    if (added.length) this.emit("messages", { added });
  }

  acked(mid, seq, createdAt) {
    const msg = this.messages.get(mid);
    if (msg && msg.seq === null) {
      msg.seq = seq;
      if (createdAt) msg.createdAt = createdAt;
      msg.failed = null;
      msg.held = null;
      this.noteSeq(seq);
      this.emit("messages", { updated: [msg] });
    }
    if (this.summary) {
      this.summary.last_activity_at = createdAt || new Date().toISOString();
      if (!Number.isInteger(this.summary.last_seq) || seq > this.summary.last_seq) this.summary.last_seq = seq;
      emitAny({ type: "summary", conversation: this });
    }
  }

  /** The server could not take the message yet (`unavailable`: the database is restarting;
   * `busy`): it stays in the outbox and is sent again by itself. `held` = {code, message},
   * the server's translated words; shown as a note, not as an error. */
  markHeld(mid, held) {
    const msg = this.messages.get(mid);
    if (msg && msg.seq === null && !msg.failed) {
      msg.held = held;
      this.emit("messages", { updated: [msg] });
    }
  }

  markFailed(mid, failed) {
    const msg = this.messages.get(mid);
    if (msg) {
      msg.failed = failed;
      this.emit("messages", { updated: [msg] });
    }
  }

  /** Try a failed message again (the same envelope, so the server still deduplicates). */
  async retry(mid) {
    const { account } = await myIdentity();
    const item = (await outboxList(account.id)).find((i) => i.mid === mid);
    if (!item) return;
    delete item.failed;
    await outboxPut(item);
    const msg = this.messages.get(mid);
    if (msg) { msg.failed = null; this.emit("messages", { updated: [msg] }); }
    flushOutbox();
  }

  async discard(mid) {
    await outboxDelete(mid);
    const msg = this.messages.get(mid);
    if (msg && msg.seq === null) {
      this.messages.delete(mid);
      this.emit("messages", { removed: [msg] });
    }
  }

  // --- read and typing ------------------------------------------------------------------

  /** The viewer has seen everything up to the newest message: tell the server (and tabs). */
  markRead() {
    const newest = this.lastSeq || 0;
    const read = this.summary ? this.summary.last_read_seq || 0 : 0;
    if (!newest || newest <= read) {
      if (this.summary && this.summary.unread) { this.summary.unread = 0; emitAny({ type: "summary", conversation: this }); }
      return;
    }
    if (this.summary) {
      this.summary.last_read_seq = newest;
      this.summary.unread = 0;
      emitAny({ type: "summary", conversation: this });
    }
    sock.request("message.read", { conversation_id: this.id, seq: newest }, { wait: false }).catch(() => {
      if (this.summary) this.summary.last_read_seq = read; // try again next time
    });
  }

  sendTyping(active) {
    sock.request("typing", { conversation_id: this.id, active }, { wait: false, timeout: 5000 }).catch(() => {});
  }

  typingPeople() {
    return [...this.typing.keys()];
  }

  setPeerTyping(accountId, active) {
    clearTimeout(this.typing.get(accountId));
    if (active) this.typing.set(accountId, setTimeout(() => this.setPeerTyping(accountId, false), TYPING_SHOWN_MS));
    else this.typing.delete(accountId);
    this.emit("typing");
  }

  async close() {
    const ack = await sock.request("conversation.close", { conversation_id: this.id });
    this.setSummary(ack.conversation || { status: "closed" });
  }
}

// --- the store ------------------------------------------------------------------------------

export function conversation(id) {
  install();
  if (!conversations.has(id)) conversations.set(id, new Conversation(id));
  return conversations.get(id);
}

/** Logged out: forget every conversation and what was decrypted (nothing stays in memory). */
export function resetStore() {
  for (const conv of conversations.values()) {
    for (const timer of conv.typing.values()) clearTimeout(timer);
    clearTimeout(conv.refillTimer);
    conv.listeners.clear();
    conv.messages.clear();
  }
  conversations.clear();
  me = null;
}

/** conversation.list → summaries in the store; returns the Conversation objects. */
export async function listConversations(status = undefined) {
  install();
  const ack = await sock.request("conversation.list", status ? { status } : {}, { retries: 2 });
  return (ack.items || []).map((summary) => {
    const conv = conversation(summary.id);
    conv.setSummary(summary);
    return conv;
  });
}

/** The summary of one conversation, asking the server when it is not known yet. */
export async function ensureSummary(id) {
  const conv = conversation(id);
  if (!conv.summary) await listConversations().catch(() => []);
  return conv;
}

async function rejoinAll() {
  for (const conv of conversations.values()) {
    if (conv.joined) await conv.join().catch((error) => console.warn("re-join failed", conv.id, error.code || error));
  }
}

// --- outbox ---------------------------------------------------------------------------------

// "unavailable": the database is restarting (docs/deployment.md); the message stays queued.
const RETRY_LATER = new Set(["busy", "unavailable", "internal", "rate_limited", "too_many_requests", "timeout"]);
// Refusals whose (translated) server message the page shows under the waiting message.
const HELD = new Set(["busy", "unavailable"]);
let flushing = null;
let flushAgain = false;

/** Send everything in the outbox, oldest first, one after another; an item leaves the outbox
 * only after the server acknowledged it (after its commit). A resend carries the same `mid`,
 * so the server answers with the same seq instead of storing a second copy. */
export function flushOutbox() {
  if (flushing) {
    flushAgain = true;
    return flushing;
  }
  flushing = (async () => {
    do {
      flushAgain = false;
      await flushOnce();
    } while (flushAgain);
  })().finally(() => { flushing = null; });
  return flushing;
}

let retryTimer = null;
let retryDelay = 1000;
function retryLater(afterSeconds = 0) {
  if (retryTimer) return;
  // A rate limit says when the server takes messages again (retry_after); otherwise back off.
  const delay = afterSeconds > 0 ? Math.min(afterSeconds * 1000 + 250, 10 * 60 * 1000) : retryDelay;
  retryTimer = setTimeout(() => { retryTimer = null; flushOutbox(); }, delay);
  if (!(afterSeconds > 0)) retryDelay = Math.min(retryDelay * 2, 15000);
}

async function flushOnce() {
  if (!sock.isConnected()) return;
  const { account } = await myIdentity();
  for (const item of await outboxList(account.id)) {
    if (item.failed) continue;
    const conv = conversations.get(item.conversationId);
    try {
      const ack = await sock.request("message.send", { conversation_id: item.conversationId, envelope: item.envelope }, { wait: false });
      retryDelay = 1000;
      await outboxDelete(item.mid);
      if (conv) conv.acked(item.mid, ack.seq, ack.created_at);
    } catch (error) {
      if (!sock.isConnected()) return; // offline: the reconnect hook flushes again
      if (error.transient || !error.code || RETRY_LATER.has(error.code)) {
        // No answer in time, or the server is busy: try again soon, in order (the same
        // envelope and mid, so a message that did arrive is not stored twice).
        if (conv && HELD.has(error.code) && error.message) conv.markHeld(item.mid, { code: error.code, message: error.message });
        retryLater(error.retryAfter || 0);
        return;
      }
      const failed = { code: error.code, message: error.message };
      await outboxPut({ ...item, failed });
      if (conv) conv.markFailed(item.mid, failed);
    }
  }
}

// --- server events --------------------------------------------------------------------------

function install() {
  if (installed) return;
  installed = true;
  const learnMe = () => myIdentity().then(({ account }) => { me = account.id; }).catch(() => {});
  learnMe();
  sock.onConnected(learnMe);
  sock.onConnected(async () => {
    await rejoinAll();
    await flushOutbox();
  });
  sock.on("message.new", (event) => {
    const conv = conversations.get(event && event.conversation_id);
    if (!conv || !event.message) return;
    const m = event.message;
    conv.ingest([m]).then((added) => {
      if (!added.length) return;
      if (conv.summary) {
        conv.summary.last_activity_at = m.created_at || conv.summary.last_activity_at;
        if (!Number.isInteger(conv.summary.last_seq) || m.seq > conv.summary.last_seq) conv.summary.last_seq = m.seq;
        if (m.sender_id && m.sender_id !== me && m.kind !== "system") conv.summary.unread = (conv.summary.unread || 0) + 1;
        emitAny({ type: "summary", conversation: conv });
      }
      if (m.sender_id && m.sender_id !== me) conv.setPeerTyping(m.sender_id, false);
    });
  });
  sock.on("message.read", (event) => {
    const conv = conversations.get(event && event.conversation_id);
    if (!conv || !Number.isInteger(event.seq)) return;
    if (event.account_id === me) {
      if (conv.summary && event.seq > (conv.summary.last_read_seq || 0)) {
        conv.summary.last_read_seq = event.seq;
        conv.summary.unread = 0;
        emitAny({ type: "summary", conversation: conv });
      }
      return;
    }
    if (event.seq > conv.peerReadSeq) {
      conv.peerReadSeq = event.seq;
      conv.emit("read");
    }
  });
  sock.on("typing", (event) => {
    const conv = conversations.get(event && event.conversation_id);
    if (!conv || event.account_id === me) return;
    conv.setPeerTyping(event.account_id, Boolean(event.active));
  });
  sock.on("conversation.updated", (event) => {
    const summary = event && event.conversation;
    if (!summary || !summary.id) return;
    const conv = conversation(summary.id);
    const oldEpoch = conv.summary ? conv.summary.current_epoch : null;
    conv.setSummary(summary);
    if (conv.joined && oldEpoch !== null && summary.current_epoch > oldEpoch) conv.refreshKeys().catch(() => {});
  });
  sock.on("conversation.access_changed", (event) => {
    const conv = conversations.get(event && event.conversation_id);
    if (conv && conv.joined) conv.join().catch(() => {});
    emitAny({ type: "access_changed", conversationId: event && event.conversation_id });
  });
  sock.on("queue.position", (event) => {
    const conv = conversations.get(event && event.conversation_id);
    if (!conv) return;
    conv.setSummary({ queue_position: event.position, expected_answer: event.expected_answer });
  });
}
