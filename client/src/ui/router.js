// Hash router: "#/path" → a view's render(container, ctx). Views register themselves in
// src/ui/views/index.js; each view module exports `path`, `render` and optionally `title`.

import { clear, focusHeading } from "./dom.js";
import { t } from "../i18n/i18n.js";

const routes = new Map();
let notFound = null;

export function register(view) { routes.set(view.path, view); }
export function registerNotFound(view) { notFound = view; }

export function navigate(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
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
export async function render() {
  const container = document.getElementById("main");
  const path = location.hash.replace(/^#/, "") || "/";
  const { view, params } = match(path);
  clear(container);
  if (!view) return;
  await view.render(container, { params, navigate });
  document.title = view.title ? `${view.title()} · jmdchat` : `jmdchat · ${t("Online counselling")}`;
  if (!firstRender) focusHeading(container);
  firstRender = false;
}

export function start() {
  window.addEventListener("hashchange", render);
  return render();
}
