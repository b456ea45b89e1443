// Entry point: read the boot data the server embedded, translate, start the router.

import { setCatalog, translateDom } from "./i18n/i18n.js";
import { setupSkipLink, setupLanguagePicker, setupQuickExit, renderFooter } from "./ui/shell.js";
import { start } from "./ui/router.js";
import "./ui/views/index.js";

// Every form is handled by script. A native submission would navigate and put what was typed
// (a message, a password) into the URL, so it is stopped for every form, also for one whose
// handler is not attached yet (a view still loading on a slow phone).
document.addEventListener("submit", (event) => event.preventDefault(), true);

const boot = JSON.parse(document.getElementById("boot").textContent);
setCatalog(boot.catalog);
translateDom();
setupSkipLink();
setupLanguagePicker(boot);
setupQuickExit(boot);
renderFooter();
window.jmdchat = { boot };
start().then(() => document.documentElement.setAttribute("data-ready", "true"));
