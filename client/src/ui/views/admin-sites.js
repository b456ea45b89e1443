// The admin screen "sites" (registered as a section of the admin hub in client/src/admin/sites.js).
export { path, title, render } from "../../admin/sites.js";
