// The one socket.io connection of this page (docs/socket-events.md).
//
// - websocket transport only, authenticated by the session cookie (sent on the upgrade);
// - request(event, payload): an emit with an acknowledgement timeout; `{ok: false, code,
//   message}` acks become a SocketError carrying the server's translated message. Requests
//   that are safe to repeat (reads, joins, message.send deduplicated by `mid`) are retried;
// - after every (re)connect the hooks registered with onConnected() run in order (the chat
//   store re-joins its conversations with `after_seq` = last seen seq, then the outbox is
//   flushed), so a short disconnect loses nothing and doubles nothing; the same hooks run on
//   the server's `sync.hint` (live events may have been lost without a disconnect);
// - the browser's offline/online events are honoured: while the phone says it is offline
//   we drop the connection ourselves (an open websocket can survive a dead network for a
//   long time before the ping notices) and reconnect as soon as it is back.

import { io } from "/static/vendor/socket.io.esm.min.js";
import { t } from "../i18n/i18n.js";

export const ACK_TIMEOUT_MS = 12000;
const CONNECT_WAIT_MS = 15000;

export class SocketError extends Error {
  constructor(code, message, { transient = false } = {}) {
    super(message);
    this.name = "SocketError";
    this.code = code;
    // transient: no answer (offline, timeout); the same request may succeed later.
    this.transient = transient;
  }
}

let socket = null;
let wantConnected = false;
const connectedHooks = [];
const statusListeners = new Set();
let status = "idle"; // idle | connecting | online | offline | refused
let hintTimer = null;

function setStatus(next, detail = null) {
  if (status === next && !detail) return;
  status = next;
  for (const fn of statusListeners) {
    try { fn(status, detail); } catch (error) { console.error(error); }
  }
}

export function connectionStatus() {
  return status;
}

/** fn(status, detail) on every change; returns an unsubscribe function. */
export function onStatus(fn) {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

/**
 * Register a hook that runs after every successful (re)connect, in registration order and one
 * after another (awaited). Returns an unsubscribe function.
 */
export function onConnected(fn) {
  connectedHooks.push(fn);
  return () => {
    const i = connectedHooks.indexOf(fn);
    if (i >= 0) connectedHooks.splice(i, 1);
  };
}

function browserOffline() {
  return typeof navigator !== "undefined" && navigator.onLine === false;
}

async function runConnectedHooks() {
  for (const fn of [...connectedHooks]) {
    if (!socket || !socket.connected) return;
    try { await fn(); } catch (error) { console.error("reconnect hook failed", error); }
  }
}

function create() {
  socket = io({
    transports: ["websocket"],
    autoConnect: false,
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 8000,
    randomizationFactor: 0.4,
    timeout: 10000,
  });
  socket.on("connect", () => {
    setStatus("online");
    runConnectedHooks();
  });
  socket.on("disconnect", (reason) => {
    // "io server disconnect": the server ended the session (logged out elsewhere); socket.io
    // does not reconnect by itself then. Everything else reconnects automatically.
    if (reason === "io server disconnect") setStatus("refused");
    else setStatus(browserOffline() ? "offline" : "connecting");
  });
  socket.on("connect_error", (error) => {
    // The database is restarting ("unavailable", docs/deployment.md): socket.io does not
    // retry a refused handshake by itself, so try again shortly (spread out over clients).
    if (!socket.active && error && error.message === "unavailable") {
      setStatus("connecting");
      setTimeout(() => {
        if (socket && wantConnected && !socket.active) socket.connect();
      }, 2000 + Math.floor(Math.random() * 3000));
      return;
    }
    // A refused handshake (no full session) is not retried by socket.io.
    if (!socket.active) setStatus("refused", error);
    else setStatus(browserOffline() ? "offline" : "connecting");
  });
  // The server process was cut off from the other processes (Redis restarted) and live
  // events may have been lost: catch up exactly as after a reconnect (re-join with after_seq,
  // list the queue again, ...). Spread over 0–2 s so a whole process's clients do not ask at
  // the same instant.
  socket.on("sync.hint", () => {
    if (hintTimer) return;
    hintTimer = setTimeout(() => { hintTimer = null; runConnectedHooks(); }, Math.floor(Math.random() * 2000));
  });
  // The server ended this session (logout elsewhere, password change): reconnecting is refused.
  socket.on("session.ended", () => {
    socket.disconnect();
    socket.connect();
  });
  window.addEventListener("offline", () => {
    if (!socket) return;
    setStatus("offline");
    socket.disconnect();
  });
  window.addEventListener("online", () => {
    if (socket && wantConnected && !socket.active) {
      setStatus("connecting");
      socket.connect();
    }
  });
  return socket;
}

/** The socket, connected (or connecting) from now on. Call only when logged in. */
export function connect() {
  if (!socket) create();
  wantConnected = true;
  // Only when not already connected, connecting or reconnecting (`active`): socket.connect()
  // on a socket that is still opening sends socket.io's namespace CONNECT a second time; the
  // server answers the duplicate with CONNECT_ERROR "Unable to connect", the client drops the
  // socket and the page shows "refused" (a view opened right after another one started the
  // connection, e.g. a deep link right after logging in; tests/browser/test_login_then_deep_link.py).
  if (!socket.active && !browserOffline()) {
    setStatus("connecting");
    socket.connect();
  } else if (browserOffline()) {
    setStatus("offline");
  }
  return socket;
}

/** Leave for good (logout): no reconnect. */
export function disconnect() {
  wantConnected = false;
  if (socket) socket.disconnect();
  setStatus("idle");
}

export function isConnected() {
  return Boolean(socket && socket.connected);
}

/** Resolves once connected; rejects after `ms` (a SocketError, transient). */
export function whenConnected(ms = CONNECT_WAIT_MS) {
  connect();
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const done = () => { clearTimeout(timer); socket.off("connect", done); resolve(socket); };
    const timer = setTimeout(() => {
      socket.off("connect", done);
      reject(new SocketError("offline", t("No connection to the server. Please check your internet connection."), { transient: true }));
    }, ms);
    socket.on("connect", done);
  });
}

/** Server → client event; returns an unsubscribe function. */
export function on(event, fn) {
  connect();
  socket.on(event, fn);
  return () => socket.off(event, fn);
}

function ackError(ack) {
  const code = ack && typeof ack.code === "string" ? ack.code : "invalid_answer";
  const message = ack && typeof ack.message === "string" && ack.message
    ? ack.message
    : t("Something went wrong on our side. Please try again.");
  const error = new SocketError(code, message);
  // Rate limits: seconds until the server accepts this again (the outbox waits that long).
  if (ack && Number.isFinite(ack.retry_after) && ack.retry_after > 0) error.retryAfter = ack.retry_after;
  return error;
}

/**
 * Send a request and wait for its acknowledgement.
 * Options: `timeout` (ms per try), `retries` (extra tries after a timeout or lost connection;
 * only for requests that are safe to repeat), `wait` (wait for a connection first; default
 * true, otherwise fail at once when offline).
 * Resolves with the ack (`ok: true`); rejects with a SocketError.
 */
export async function request(event, payload = {}, { timeout = ACK_TIMEOUT_MS, retries = 0, wait = true } = {}) {
  let attempt = 0;
  for (;;) {
    try {
      if (!isConnected()) {
        if (!wait) throw new SocketError("offline", t("No connection to the server. Please check your internet connection."), { transient: true });
        await whenConnected();
      }
      let ack;
      try {
        ack = await socket.timeout(timeout).emitWithAck(event, payload);
      } catch {
        throw new SocketError("timeout", t("The server did not answer in time. Please try again."), { transient: true });
      }
      if (!ack || ack.ok !== true) throw ackError(ack);
      return ack;
    } catch (error) {
      if (!(error instanceof SocketError) || !error.transient || attempt >= retries) throw error;
      attempt += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(4000, 500 * 2 ** attempt)));
    }
  }
}
