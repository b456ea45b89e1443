// IndexedDB of the chat (its own database, so it never competes with the accounts keystore's
// schema version):
//   outbox  – already encrypted envelopes not yet acknowledged by the server, keyed by the
//             client message id (`mid`). Never plaintext.
//   pins    – trust-on-first-use: the first Ed25519 key seen for a young person, per viewer.

const DB_NAME = "jmdchat-chat";
const DB_VERSION = 1;
let opening = null;

function promisify(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("outbox")) {
          const store = db.createObjectStore("outbox", { keyPath: "mid" });
          store.createIndex("account", "accountId");
        }
        if (!db.objectStoreNames.contains("pins")) db.createObjectStore("pins", { keyPath: "key" });
      };
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => { db.close(); opening = null; };
        resolve(db);
      };
      req.onerror = () => { opening = null; reject(req.error); };
      req.onblocked = () => { opening = null; reject(new Error("IndexedDB blocked")); };
    });
  }
  return opening;
}

async function run(storeName, mode, fn) {
  const db = await open();
  const tx = db.transaction(storeName, mode);
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
  const result = await fn(tx.objectStore(storeName));
  await done;
  return result;
}

// --- outbox ----------------------------------------------------------------------------------

/** item: {mid, accountId, conversationId, envelope, createdAt, failed?: {code, message}} */
export function outboxPut(item) {
  return run("outbox", "readwrite", (store) => promisify(store.put(item)));
}

export function outboxDelete(mid) {
  return run("outbox", "readwrite", (store) => promisify(store.delete(mid)));
}

/** Every item of `accountId`, oldest first. */
export async function outboxList(accountId) {
  const items = await run("outbox", "readonly", (store) => promisify(store.index("account").getAll(String(accountId))));
  return items.sort((a, b) => a.createdAt - b.createdAt);
}

// --- pins ------------------------------------------------------------------------------------

export async function pinnedKey(viewerId, accountId) {
  const record = await run("pins", "readonly", (store) => promisify(store.get(`${viewerId}:${accountId}`)));
  return record ? new Uint8Array(record.ed25519) : null;
}

export function pinKey(viewerId, accountId, ed25519) {
  return run("pins", "readwrite", (store) => promisify(store.put({ key: `${viewerId}:${accountId}`, ed25519: new Uint8Array(ed25519) })));
}
