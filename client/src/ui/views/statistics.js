// The admin screen "statistics" (registered as a section of the admin hub in
// client/src/admin/statistics.js; issue #9).
export { path, title, render } from "../../admin/statistics.js";
