// Copies the browser builds of npm dependencies into client/vendor/ (served as static files).
// axe-core (dev only) is not vendored: the browser tests inject it from node_modules.
// socket.io-client's dist file is not in its package `exports`, so it is copied by path.
import { copyFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const vendor = join(root, "vendor");
mkdirSync(vendor, { recursive: true });
const files = [
  ["node_modules/socket.io-client/dist/socket.io.esm.min.js", "socket.io.esm.min.js"],
  // QR code of the counsellors' two-factor (TOTP) setup URI; ES module, default export.
  ["node_modules/qrcode-generator/dist/qrcode.mjs", "qrcode-generator.js"],
];
for (const [from, to] of files) {
  const source = join(root, from);
  if (!existsSync(source)) {
    throw new Error(`missing ${from}; run npm ci in client/`);
  }
  copyFileSync(source, join(vendor, to));
}
console.log("vendored", files.map(([, to]) => to).join(", "));
