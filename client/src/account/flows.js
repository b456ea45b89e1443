// The account flows of docs/accounts-api.md, on top of the protocol code in src/crypto/
// (through the thin adapter ./crypto.js). The password and the recovery code never leave
// this file's callers' memory: the server only receives auth keys (HKDF outputs) and blobs.

import { api, segment } from "../net/api.js";
import { t } from "../i18n/i18n.js";
import * as kc from "./crypto.js";
import { saveIdentity, loadIdentity, updateKeyBlob, deleteIdentity } from "./keystore.js";
import { setAccount, currentAccount } from "./session.js";

export class FlowError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "FlowError";
    this.code = code;
  }
}

const b64 = kc.b64urlEncode;

// The server publishes the account's public keys; the keys we opened must be the same ones,
// otherwise a server swapped them (docs/protocol.md section 5) and we stop.
function checkPublicKeys(account, identity) {
  const same = account
    && account.x25519_public === b64(identity.x25519Public)
    && account.ed25519_public === b64(identity.ed25519Public);
  if (!same) {
    throw new FlowError("key_mismatch", t("The keys the server sent do not match your own keys. For your safety we stopped here. Please contact us."));
  }
}

async function store(account, identity, keyBlob) {
  await saveIdentity(account.id, {
    nickname: account.nickname,
    x25519Private: identity.x25519Private,
    ed25519Private: identity.ed25519Private,
    x25519Public: identity.x25519Public,
    ed25519Public: identity.ed25519Public,
    keyBlob,
  });
}

// New password keys: fresh 16-byte salt, the configured iterations.
async function newPasswordKeys(password) {
  const salt = kc.randomBytes(16);
  const iterations = kc.DEFAULT_ITERATIONS;
  const keys = await kc.derivePasswordKeys(password, salt, iterations);
  return { salt, iterations, ...keys };
}

// Identity + both blobs + recovery code: what registration and invitations need.
async function newIdentityMaterial(password) {
  const pw = await newPasswordKeys(password);
  const recovery = await kc.generateRecoveryCode();
  const rk = await kc.deriveRecoveryKeys(recovery.code);
  recovery.code.fill(0);
  // The private keys exist as bytes only inside createIdentity; we get non-extractable keys.
  const { identity, passwordBlob, recoveryBlob } = await kc.createIdentity(pw.wrapKey, rk.wrapKey);
  const body = {
    salt: b64(pw.salt),
    iterations: pw.iterations,
    auth_key: b64(pw.authKey),
    key_blob: b64(passwordBlob),
    recovery_blob: b64(recoveryBlob),
    recovery_auth_key: b64(rk.authKey),
    x25519_public: b64(identity.x25519Public),
    ed25519_public: b64(identity.ed25519Public),
  };
  return { body, identity, keyBlob: passwordBlob, recoveryCode: recovery.text };
}

/** Registration of a young person. Returns {account, recoveryCode}. */
export async function register({ nickname, password, locale, ageGroup }) {
  const material = await newIdentityMaterial(password);
  const data = await api.post("/api/auth/register", {
    nickname, ...material.body, locale, age_group: ageGroup || null,
  });
  checkPublicKeys(data.account, material.identity);
  await store(data.account, material.identity, material.keyBlob);
  setAccount(data.account);
  return { account: data.account, recoveryCode: material.recoveryCode };
}

async function prelogin(nickname) {
  const data = await api.post("/api/auth/prelogin", { nickname });
  return { salt: kc.b64urlDecode(data.salt), iterations: data.iterations };
}

// Password → keys with the account's own salt and iterations (the client refuses fewer
// than 600 000 iterations, so a server cannot make the password cheap to guess).
async function passwordKeysFor(nickname, password) {
  const { salt, iterations } = await prelogin(nickname);
  return kc.derivePasswordKeys(password, salt, iterations);
}

/**
 * Log in. First call: {nickname, password}; if the server wants a TOTP code the result is
 * {totpRequired: true, pending} and the next call passes {pending, totpCode} (the password
 * is not derived again). On success: {account}.
 */
export async function login({ nickname, password, totpCode = null, pending = null }) {
  const keys = pending && pending.nickname === nickname ? pending.keys : await passwordKeysFor(nickname, password);
  const body = { nickname, auth_key: b64(keys.authKey) };
  if (totpCode) body.totp_code = totpCode;
  let data;
  try {
    data = await api.post("/api/auth/login", body);
  } catch (error) {
    if (error.code === "totp_required" || error.code === "totp_invalid") {
      error.pending = { nickname, keys };
    }
    throw error;
  }
  const blob = kc.b64urlDecode(data.key_blob);
  const identity = await kc.unwrapIdentity(blob, keys.wrapKey, "password");
  try {
    checkPublicKeys(data.account, identity);
  } catch (error) {
    await api.post("/api/auth/logout").catch(() => {});
    throw error;
  }
  await store(data.account, identity, blob);
  setAccount(data.account);
  return { account: data.account };
}

/**
 * Recovery, step 1: check the code locally (checksum), ask the server for the recovery blob,
 * open it. Returns a state for step 2.
 */
export async function startRecovery({ nickname, code }) {
  const codeBytes = await kc.parseRecoveryCode(code);
  const rk = await kc.deriveRecoveryKeys(codeBytes);
  const data = await api.post("/api/auth/recovery/start", { nickname, recovery_auth_key: b64(rk.authKey) });
  const recoveryBlob = kc.b64urlDecode(data.recovery_blob);
  const identity = await kc.unwrapIdentity(recoveryBlob, rk.wrapKey, "recovery");
  return { nickname, token: data.recovery_token, recoveryBlob, wrapKey: rk.wrapKey, identity };
}

/** Recovery, step 2: the new password wraps the same identity; logged in afterwards. */
export async function finishRecovery(state, newPassword) {
  const pw = await newPasswordKeys(newPassword);
  const keyBlob = await kc.rewrapIdentity(state.recoveryBlob, state.wrapKey, "recovery", pw.wrapKey, "password");
  const data = await api.post("/api/auth/recovery/finish", {
    recovery_token: state.token,
    salt: b64(pw.salt),
    iterations: pw.iterations,
    auth_key: b64(pw.authKey),
    key_blob: b64(keyBlob),
  });
  checkPublicKeys(data.account, state.identity);
  await store(data.account, state.identity, keyBlob);
  setAccount(data.account);
  return { account: data.account };
}

/** Change the password of the logged-in account: same identity, new salt, new blob. */
export async function changePassword({ currentPassword, newPassword }) {
  const account = await currentAccount();
  if (!account) throw new FlowError("unauthorized", t("Please log in first."));
  const stored = await loadIdentity(account.id);
  if (!stored || !stored.keyBlob) {
    throw new FlowError("no_keys", t("Your keys are not on this device. Please log out and log in again."));
  }
  const current = await passwordKeysFor(account.nickname, currentPassword);
  const pw = await newPasswordKeys(newPassword);
  let keyBlob;
  try {
    keyBlob = await kc.rewrapIdentity(stored.keyBlob, current.wrapKey, "password", pw.wrapKey, "password");
  } catch (error) {
    if (error.code === "bad_key_blob") throw new FlowError("wrong_password", t("Your current password is not right."));
    throw error;
  }
  await api.post("/api/auth/password", {
    current_auth_key: b64(current.authKey),
    salt: b64(pw.salt),
    iterations: pw.iterations,
    auth_key: b64(pw.authKey),
    key_blob: b64(keyBlob),
  });
  await updateKeyBlob(account.id, keyBlob);
}

/**
 * A new recovery code for the logged-in account (the old one was lost or never printed).
 * The current password opens the key blob stored on this device; the same keys are wrapped
 * under a fresh code; the server replaces the recovery blob, so the old code stops working.
 * Returns {recoveryCode, nickname} (the code is shown once, never stored).
 */
export async function renewRecoveryCode({ currentPassword }) {
  const account = await currentAccount();
  if (!account) throw new FlowError("unauthorized", t("Please log in first."));
  const stored = await loadIdentity(account.id);
  if (!stored || !stored.keyBlob) {
    throw new FlowError("no_keys", t("Your keys are not on this device. Please log out and log in again."));
  }
  const current = await passwordKeysFor(account.nickname, currentPassword);
  const recovery = await kc.generateRecoveryCode();
  const rk = await kc.deriveRecoveryKeys(recovery.code);
  recovery.code.fill(0);
  let recoveryBlob;
  try {
    recoveryBlob = await kc.rewrapIdentity(stored.keyBlob, current.wrapKey, "password", rk.wrapKey, "recovery");
  } catch (error) {
    if (error.code === "bad_key_blob") throw new FlowError("wrong_password", t("Your current password is not right."));
    throw error;
  }
  // The new blob must open to our own keys before the old code is given up.
  const check = await kc.unwrapIdentity(recoveryBlob, rk.wrapKey, "recovery");
  checkPublicKeys(account, check);
  await api.post("/api/auth/recovery/renew", {
    current_auth_key: b64(current.authKey),
    recovery_blob: b64(recoveryBlob),
    recovery_auth_key: b64(rk.authKey),
  });
  return { recoveryCode: recovery.text, nickname: account.nickname };
}

/** Delete the logged-in account for good; the password confirms it. */
export async function deleteAccount(password) {
  const account = await currentAccount();
  if (!account) throw new FlowError("unauthorized", t("Please log in first."));
  const keys = await passwordKeysFor(account.nickname, password);
  await api.del("/api/account", { auth_key: b64(keys.authKey) });
  try { await deleteIdentity(account.id); } catch { /* nothing stored */ }
  setAccount(null);
}

// --- counsellor invitations ------------------------------------------------------------------

export async function fetchInvitation(token) {
  return api.get(`/api/invitations/${segment(token)}`);
}

/** Accept: keys are made here. Returns {account, totpSecret, otpauthUri, recoveryCode}. */
export async function acceptInvitation(token, { nickname, displayName, password, locale }) {
  const material = await newIdentityMaterial(password);
  const data = await api.post(`/api/invitations/${segment(token)}/accept`, {
    nickname, display_name: displayName, ...material.body, locale,
  });
  checkPublicKeys(data.account, material.identity);
  await store(data.account, material.identity, material.keyBlob);
  return {
    account: data.account,
    totpSecret: data.totp_secret,
    otpauthUri: data.otpauth_uri,
    recoveryCode: material.recoveryCode,
  };
}

export async function confirmTotp(code) {
  const data = await api.post("/api/auth/totp/confirm", { code });
  setAccount(data.account);
  return { account: data.account };
}

/** The fingerprint of this device's keys (null when they are not here). */
export async function localFingerprint(account) {
  const stored = account ? await loadIdentity(account.id).catch(() => null) : null;
  if (!stored) return null;
  return {
    fingerprint: await kc.fingerprint(stored.x25519Public, stored.ed25519Public),
    matchesServer: account.x25519_public === b64(stored.x25519Public) && account.ed25519_public === b64(stored.ed25519Public),
    record: stored,
  };
}
