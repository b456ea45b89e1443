// Quick exit: leave at once for a neutral page. location.replace() swaps jmdchat's history
// entry for the neutral page (the router keeps jmdchat to that single entry), so "back" does
// not return here. Also bound to pressing Escape twice within 600 ms.
//
// This module has no imports and is loaded by index.html as its own <script type="module">,
// so the quick exit keeps working even if the rest of the client fails to load.

const DOUBLE_PRESS_MS = 600;
let installed = false;

export function setupQuickExit(boot) {
  if (installed) return;
  const button = document.getElementById("quick-exit");
  if (!button || !boot || !boot.quickExitUrl) return;
  installed = true;
  let leaving = false;
  const leave = () => {
    if (leaving) return;
    leaving = true;
    // Hide everything before the neutral page arrives (it may take a moment on a slow network).
    document.title = "";
    document.body.replaceChildren();
    location.replace(boot.quickExitUrl);
  };
  button.addEventListener("click", leave);
  let lastEscape = 0;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.repeat) return;
    const now = Date.now();
    if (now - lastEscape < DOUBLE_PRESS_MS) leave();
    lastEscape = now;
  });
}

try {
  setupQuickExit(JSON.parse(document.getElementById("boot").textContent));
} catch {
  // main.js reports a broken page; the button then does nothing rather than throw twice.
}
