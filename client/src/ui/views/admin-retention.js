// The admin screen "retention" (registered as a section of the admin hub in client/src/admin/retention.js).
export { path, title, render } from "../../admin/retention.js";
