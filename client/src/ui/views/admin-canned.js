// The admin screen "canned" (registered as a section of the admin hub in client/src/admin/canned.js).
export { path, title, render } from "../../admin/canned.js";
