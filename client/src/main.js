// Entry point: read the boot data the server embedded, translate, start the router.

import { setCatalog, translateDom } from "./i18n/i18n.js";
import { setupSkipLink, setupLanguagePicker, setupQuickExit, renderFooter } from "./ui/shell.js";
import { start } from "./ui/router.js";
import "./ui/views/index.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
setCatalog(boot.catalog);
translateDom();
setupSkipLink();
setupLanguagePicker(boot);
setupQuickExit(boot);
renderFooter();
window.jmdchat = { boot };
start().then(() => document.documentElement.setAttribute("data-ready", "true"));
