// Who is logged in (the server's session cookie is HttpOnly, so we ask GET /api/auth/me),
// and where to go after logging in. Later screens decide the landing page with
// setLandingResolver((account) => "/conversations").

import { api, ApiError } from "../net/api.js";
import { deleteIdentity, loadIdentity } from "./keystore.js";

let current;        // undefined: not asked yet; null: logged out; object: the account
let asking = null;
const listeners = new Set();

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) {
    try { fn(current); } catch (error) { console.error(error); }
  }
}

export function setAccount(account) {
  current = account || null;
  emit();
  return current;
}

export function cachedAccount() {
  return current;
}

// The logged-in account, or null. `refresh` asks the server again.
export async function currentAccount({ refresh = false } = {}) {
  if (current !== undefined && !refresh) return current;
  if (!asking) {
    asking = api.get("/api/auth/me")
      .then((data) => setAccount(data.account))
      .catch((error) => {
        if (error instanceof ApiError && (error.status === 401 || error.code === "unauthorized")) return setAccount(null);
        throw error;
      })
      .finally(() => { asking = null; });
  }
  return asking;
}

// --- where to land ---------------------------------------------------------------------------

const defaultLanding = () => "/account";
let landingResolver = defaultLanding;

export function setLandingResolver(fn) {
  landingResolver = typeof fn === "function" ? fn : defaultLanding;
}

export function landingPath(account) {
  try {
    return landingResolver(account) || defaultLanding(account);
  } catch {
    return defaultLanding(account);
  }
}

// --- this device's keys ----------------------------------------------------------------------

export async function identityFor(account) {
  if (!account) return null;
  try {
    return await loadIdentity(account.id);
  } catch {
    return null;
  }
}

// Log out on the server and forget the keys on this device. Never throws: leaving must work
// even without a connection (the cookie then expires on its own).
export async function logout() {
  const account = current;
  try {
    await api.post("/api/auth/logout");
  } catch {
    // ignore: we still wipe locally
  }
  if (account) {
    try { await deleteIdentity(account.id); } catch { /* nothing stored */ }
  }
  setAccount(null);
}
