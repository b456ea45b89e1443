// Every view of the client, registered with the router. Add a line per view module.

import { register, registerNotFound } from "../router.js";
import * as start from "./start.js";
import * as about from "./about.js";
import * as placeholder from "./placeholder.js";
import * as notFound from "./not-found.js";

register(start);
register(about);
for (const view of placeholder.views) register(view);
registerNotFound(notFound);
