// The identity of the people logged in on this device, in IndexedDB, one record per account.
// Private keys are stored as non-extractable CryptoKeys (IndexedDB keeps CryptoKey objects
// as they are, structured-cloned): code in this page can use them, nobody can copy them out.
// Next to them the password-wrapped key blob (for a password change without the network) and
// the public keys. Logging out removes the record, so a shared phone keeps nothing.

export const DB_NAME = "jmdchat";
export const STORE = "identities";

let opening = null;

function promisify(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open() {
  if (!opening) {
    // No version: open whatever version exists (a new database is created with our store).
    opening = openVersion(undefined).then(async (db) => {
      if (db.objectStoreNames.contains(STORE)) return db;
      // The database exists without our store (made by something else): add it.
      const version = db.version + 1;
      db.close();
      return openVersion(version);
    });
    opening.catch(() => { opening = null; });
  }
  return opening;
}

function openVersion(version) {
  return new Promise((resolve, reject) => {
    const req = version === undefined ? indexedDB.open(DB_NAME) : indexedDB.open(DB_NAME, version);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: "accountId" });
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another tab upgrading the schema: close, the next call reopens.
      db.onversionchange = () => { db.close(); opening = null; };
      resolve(db);
    };
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error("IndexedDB blocked"));
  });
}

async function withStore(mode, fn) {
  const db = await open();
  const tx = db.transaction(STORE, mode);
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
  const result = await fn(tx.objectStore(STORE));
  await done;
  return result;
}

/**
 * Save the identity of `accountId`:
 * `{x25519Private, ed25519Private}` non-extractable CryptoKeys, `x25519Public`,
 * `ed25519Public` (Uint8Array), `keyBlob` (Uint8Array, password-wrapped), `nickname`.
 */
export async function saveIdentity(accountId, identity) {
  for (const name of ["x25519Private", "ed25519Private"]) {
    const key = identity[name];
    if (!(key instanceof CryptoKey) || key.extractable) throw new Error(`${name} must be a non-extractable CryptoKey`);
  }
  const record = {
    accountId: String(accountId),
    nickname: identity.nickname || "",
    x25519Private: identity.x25519Private,
    ed25519Private: identity.ed25519Private,
    x25519Public: new Uint8Array(identity.x25519Public),
    ed25519Public: new Uint8Array(identity.ed25519Public),
    keyBlob: identity.keyBlob ? new Uint8Array(identity.keyBlob) : null,
    savedAt: Date.now(),
  };
  await withStore("readwrite", (store) => promisify(store.put(record)));
  return record;
}

export async function loadIdentity(accountId) {
  const record = await withStore("readonly", (store) => promisify(store.get(String(accountId))));
  return record || null;
}

export async function updateKeyBlob(accountId, keyBlob) {
  await withStore("readwrite", async (store) => {
    const record = await promisify(store.get(String(accountId)));
    if (record) {
      record.keyBlob = new Uint8Array(keyBlob);
      await promisify(store.put(record));
    }
  });
}

export async function deleteIdentity(accountId) {
  await withStore("readwrite", (store) => promisify(store.delete(String(accountId))));
}

// Wipe every identity on this device (log out and wipe, quick exit from a shared phone).
export async function clearIdentities() {
  await withStore("readwrite", (store) => promisify(store.clear()));
}
