// Every view of the client, registered with the router. Add a line per view module.

import { register, registerNotFound } from "../router.js";
import * as start from "./start.js";
import * as enquiryNew from "./enquiry-new.js";
import * as myConversations from "./my-conversations.js";
import * as conversationView from "./conversation.js";
import * as queue from "./queue.js";
import * as counsellorConversations from "./counsellor-conversations.js";
import { wrapStart } from "../../chat/start-link.js";
import * as about from "./about.js";
import * as placeholder from "./placeholder.js";
import * as notFound from "./not-found.js";
import * as registerView from "./register.js";
import * as login from "./login.js";
import * as counsellorLogin from "./counsellor-login.js";
import * as recover from "./recover.js";
import * as account from "./account.js";
import * as invite from "./invite.js";
import * as siteFinder from "./site-finder.js";
import * as help from "./help.js";

register(start);
register(about);
for (const view of placeholder.views) register(view);
register(registerView);
register(login);
register(counsellorLogin);
register(recover);
register(account);
register(invite);
register(siteFinder);
// Crisis contacts (issue #8), linked from the header on every screen.
register(help);
// Chat (issue #5): enquiry, conversations, queue. The start view is wrapped to link to them.
register(wrapStart(start));
register(enquiryNew);
register(myConversations);
register(conversationView);
register(queue);
register(counsellorConversations);
registerNotFound(notFound);
