// Where people land after logging in (the accounts client's hook setLandingResolver): young
// people on their conversations (or a new enquiry when they have none yet), counsellors on the
// live queue. Imported by the chat views, so it is installed as soon as the views are.

import { onSessionChange, setLandingResolver } from "../account/session.js";
import { disconnect } from "../net/socket.js";
import { forgetKeys } from "./keys.js";
import { resetStore } from "./store.js";
import { resetQueue } from "./queue.js";
import { isCounsellor } from "./ui.js";

let landingPending = false;

setLandingResolver((account) => {
  if (!account) return "/";
  if (account.role === "young_person") {
    landingPending = true;
    return "/conversations";
  }
  if (account.role !== "admin" && isCounsellor(account)) return "/queue";
  if (account.role === "admin" && account.sites && account.sites.length) return "/queue";
  return "/account";
});

/** True once after a login landed on /conversations: an empty list then opens a new enquiry. */
export function takeLandingFlag() {
  const value = landingPending;
  landingPending = false;
  return value;
}

// Logged out (here or by the server): no live connection and no keys in memory any more.
let wasLoggedIn = false;
onSessionChange((account) => {
  if (account) { wasLoggedIn = true; return; }
  if (!wasLoggedIn) return;
  wasLoggedIn = false;
  disconnect();
  forgetKeys();
  resetStore();
  resetQueue();
});
