// Hash router: "#/path" → a view's render(container, ctx). Views register themselves in
// src/ui/views/index.js; each view module exports `path`, `render` and optionally `title`.
//
// Privacy: jmdchat keeps exactly ONE entry in the browser's session history. Moving between
// views replaces that entry (location.replace) instead of adding one, so the quick exit's
// location.replace() removes every trace of jmdchat from "back", and the history list never
// shows which screens were opened. Links written as <a href="#/path"> are routed the same way.
// Hashes that do not start with "/" (e.g. the skip link's "#main") are in-page anchors.

import { clear, focusHeading } from "./dom.js";
import { t } from "../i18n/i18n.js";

const routes = new Map();
let notFound = null;

export function register(view) { routes.set(view.path, view); }
export function registerNotFound(view) { notFound = view; }

function currentPath() {
  const hash = location.hash.replace(/^#/, "");
  return hash.startsWith("/") ? hash : "/";
}

export function navigate(path) {
  if (location.hash === `#${path}`) render();
  else location.replace(`#${path}`);
}

function match(hashPath) {
  if (routes.has(hashPath)) return { view: routes.get(hashPath), params: {} };
  for (const [pattern, view] of routes) {
    const names = [];
    const regex = new RegExp("^" + pattern.replace(/:(\w+)/g, (_, name) => { names.push(name); return "([^/]+)"; }) + "$");
    const found = hashPath.match(regex);
    if (found) return { view, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(found[i + 1])])) };
  }
  return { view: notFound, params: {} };
}

let firstRender = true;
let renderCount = 0;
export async function render() {
  const container = document.getElementById("main");
  const path = currentPath();
  const { view, params } = match(path);
  const token = ++renderCount;
  clear(container);
  if (!view) return;
  await view.render(container, { params, navigate });
  if (token !== renderCount) return; // a newer navigation took over meanwhile
  document.title = view.title ? `${view.title()} · jmdchat` : `jmdchat · ${t("Online counselling")}`;
  // On a route change (not on the first load) move focus to the new view's heading, so a
  // screen reader announces it and keyboard users continue from the top of the content.
  if (!firstRender) {
    window.scrollTo(0, 0);
    focusHeading(container);
  }
  firstRender = false;
}

function onHashChange() {
  if (location.hash && !location.hash.startsWith("#/")) return; // an in-page anchor
  render();
}

// <a href="#/path"> → navigate() (replaces the history entry instead of pushing one).
function onClick(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest("a[href^='#/']") : null;
  if (!link || (link.target && link.target !== "_self")) return;
  event.preventDefault();
  navigate(link.getAttribute("href").slice(1));
}

export function start() {
  window.addEventListener("hashchange", onHashChange);
  document.addEventListener("click", onClick);
  return render();
}
