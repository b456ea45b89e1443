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
import * as admin from "./admin.js";
import * as rounds from "./rounds.js";
import * as roundView from "./round.js";
// Admin sections (issues #3, #4, #9): each module imports addSection and registers its views here.
import * as adminTeam from "./admin-team.js"; // team management (issues #3, #9)
import * as adminSites from "./admin-sites.js"; // site directory (issues #4, #9)
import * as adminTopics from "./admin-topics.js"; // topics (issue #9)
import * as adminCanned from "./admin-canned.js"; // canned responses (issue #9)
import * as adminRetention from "./admin-retention.js"; // retention settings (issue #9)
import * as adminAudit from "./admin-audit.js"; // audit trail (issue #9)
import * as statistics from "./statistics.js"; // statistics without personal data (issue #9)
import * as adminReports from "./admin-reports.js"; // reported accounts (issue #8)
import * as adminHandovers from "../../admin/handovers.js"; // handover audit (issue #6)

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
// Admin and site-lead area (role-gated; the server authorizes again).
register(admin);
register(adminTeam);
for (const view of [adminSites, adminTopics, adminCanned, adminRetention, adminAudit]) register(view);
// Chat rounds (issue #9): scheduled group chats.
register(rounds);
register(roundView);
register(statistics);
register(adminReports); // reported accounts (issue #8)
register(adminHandovers); // handover audit for site leads (issue #6)
registerNotFound(notFound);
