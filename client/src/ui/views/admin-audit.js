// The admin screen "audit" (registered as a section of the admin hub in client/src/admin/audit.js).
export { path, title, render } from "../../admin/audit.js";
