// The admin screen "topics" (registered as a section of the admin hub in client/src/admin/topics.js).
export { path, title, render } from "../../admin/topics.js";
