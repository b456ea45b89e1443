// The admin screen "reports" (registered as a section of the admin hub in client/src/admin/reports.js).
export { path, title, render } from "../../admin/reports.js";
