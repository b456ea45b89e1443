// Small pieces shared by the chat screens: who may see a screen, the view's lifetime (live
// listeners and timers end when the router replaces the view), the connection banner and a
// readable sentence for any error.

import { h } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { currentAccount } from "../account/session.js";
import { ApiError } from "../net/api.js";
import * as sock from "../net/socket.js";

export const COUNSELLOR_ROLES = ["counsellor", "site_lead", "admin"];

export function isCounsellor(account) {
  return Boolean(account && COUNSELLOR_ROLES.includes(account.role));
}

/**
 * The view's scope: `scope.add(cleanup)`; everything runs once the view's root element left the
 * page (the router cleared #main) or the next chat view starts.
 */
let activeScope = null;
export function viewScope(container, root) {
  if (activeScope) activeScope.dispose();
  const cleanups = [];
  const scope = {
    root,
    disposed: false,
    add(fn) { cleanups.push(fn); return fn; },
    get alive() { return !scope.disposed && root.isConnected; },
    dispose() {
      if (scope.disposed) return;
      scope.disposed = true;
      observer.disconnect();
      for (const fn of cleanups.splice(0)) {
        try { fn(); } catch (error) { console.error(error); }
      }
      if (activeScope === scope) activeScope = null;
    },
    interval(fn, ms) { const id = setInterval(fn, ms); cleanups.push(() => clearInterval(id)); return id; },
    timeout(fn, ms) { const id = setTimeout(fn, ms); cleanups.push(() => clearTimeout(id)); return id; },
    listen(target, type, fn, opts) { target.addEventListener(type, fn, opts); cleanups.push(() => target.removeEventListener(type, fn, opts)); },
  };
  const observer = new MutationObserver(() => { if (!root.isConnected) scope.dispose(); });
  observer.observe(container, { childList: true });
  activeScope = scope;
  return scope;
}

/** The account, or null after showing a "please log in" screen. */
export async function requireAccount(container, heading, { counsellor = false } = {}) {
  let account = null;
  try {
    account = await currentAccount();
  } catch {
    account = null;
  }
  if (!account) {
    container.append(
      h("h1", {}, heading),
      h("p", { class: "notice" }, t("Please log in first.")),
      h("p", {}, h("a", { class: "button primary", href: counsellor ? "#/counsellor" : "#/login" }, t("Log in"))),
    );
    return null;
  }
  if (counsellor && !isCounsellor(account)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for counsellors.")));
    return null;
  }
  return account;
}

/** A polite status line about the connection ("Offline: messages are sent when you are back"). */
export function connectionBanner(scope) {
  const el = h("p", { class: "conn-banner", role: "status", "aria-live": "polite", hidden: true });
  const update = (status) => {
    let text = "";
    if (status === "offline") text = t("You are offline. Your messages are kept on this phone and sent when you are back online.");
    else if (status === "connecting") text = t("Connecting…");
    else if (status === "refused") text = t("The connection was refused. Please log in again.");
    el.textContent = text;
    el.hidden = !text;
    el.dataset.status = status;
  };
  update(sock.connectionStatus());
  scope.add(sock.onStatus(update));
  return el;
}

export function describeChatError(error) {
  if (!error) return "";
  if (error instanceof ApiError || error.name === "SocketError" || error.name === "ChatError") return error.message;
  switch (error.code) {
    case "no_keys":
      return t("Your keys are not on this device. Please log out and log in again.");
    case "bad_certificate":
    case "site_key_mismatch":
    case "certificate_expired":
    case "certificate_bad_signature":
    case "certificate_wrong_issuer":
    case "certificate_wrong_subject":
    case "certificate_wrong_kind":
    case "certificate_not_yet_valid":
      return t("A key could not be confirmed as genuine, so we stopped for your safety. Please contact us.");
    default:
      break;
  }
  console.error(error);
  return t("Something went wrong. Please try again.");
}

/** Text for a message that failed verification or decryption (never its content). */
export function unreadableText(code) {
  if (code === "unknown_epoch") return t("This message cannot be opened on this device (its key is missing).");
  return t("This message could not be verified and is not shown.");
}

let uid = 0;
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}
