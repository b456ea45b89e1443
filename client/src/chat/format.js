// Everything the chat screens say that comes from codes and parameters: system events, route
// reasons, expected answer times, language and topic names, times and durations. Each viewer
// reads them in their OWN language: the server sends codes, never sentences.

import { t, tn, locale } from "../i18n/i18n.js";
import { api } from "../net/api.js";

function boot() {
  return (window.jmdchat && window.jmdchat.boot) || { locales: [] };
}

/** BCP 47 tag of the UI locale ("fa_AF" → "fa-AF"). */
export function uiTag() {
  const code = locale();
  const found = (boot().locales || []).find((l) => l.code === code);
  return found ? found.tag : String(code || "de").replace("_", "-");
}

/** The languages counselling can be asked in: the shipped UI languages, named in themselves. */
export function shippedLanguages() {
  return (boot().locales || []).map((l) => ({ code: l.code, tag: l.tag, dir: l.dir, name: l.name }));
}

let displayNames = null;
/** A language's name in the viewer's language ("ar" → "Arabisch" in a German UI). */
export function languageName(code) {
  if (!code) return "";
  if (code === "ku") return t("Kurdish (Kurmanji)");
  if (code === "fa_AF" || code === "prs") return t("Dari");
  try {
    displayNames = displayNames || new Intl.DisplayNames([uiTag()], { type: "language" });
    return displayNames.of(String(code).replace("_", "-")) || code;
  } catch {
    return code;
  }
}

/** "Deutsch, Arabisch" — a list in the viewer's language. */
export function languageList(codes) {
  const names = (codes || []).map(languageName);
  try {
    return new Intl.ListFormat(uiTag(), { style: "long", type: "conjunction" }).format(names);
  } catch {
    return names.join(", ");
  }
}

// --- topics ----------------------------------------------------------------------------------

let topicsLoading = null;
/** GET /api/topics → [{key, name}] with the name in the UI language. */
export function loadTopics() {
  if (!topicsLoading) {
    topicsLoading = api.get("/api/topics").then((data) => (data.topics || []).map((topic) => ({
      key: topic.key,
      name: topicNameFrom(topic),
    })));
    topicsLoading.catch(() => { topicsLoading = null; });
  }
  return topicsLoading;
}

function topicNameFrom(topic) {
  if (typeof topic.name === "string" && topic.name) return topic.name;
  const names = topic.names || {};
  return names[locale()] || names[String(locale()).split("_")[0]] || names.de || names.en || topic.key;
}

const topicNames = new Map();
/** Name of a topic key (after loadTopics() resolved once; the key until then). */
export function topicName(key) {
  return topicNames.get(key) || key || "";
}
export async function primeTopicNames() {
  try {
    for (const topic of await loadTopics()) topicNames.set(topic.key, topic.name);
  } catch {
    // keys are shown instead
  }
}

// --- times -----------------------------------------------------------------------------------

export function parseTime(value) {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "14:05" today, "Mon 14:05" this week, a date otherwise. */
export function shortTime(value) {
  const d = parseTime(value);
  if (!d) return "";
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const opts = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : (now - d < 6 * 86400000 ? { weekday: "short", hour: "2-digit", minute: "2-digit" } : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  return new Intl.DateTimeFormat(uiTag(), opts).format(d);
}

export function longTime(value) {
  const d = parseTime(value);
  if (!d) return "";
  return new Intl.DateTimeFormat(uiTag(), { dateStyle: "full", timeStyle: "short" }).format(d);
}

function unit(n, name) {
  try {
    return new Intl.NumberFormat(uiTag(), { style: "unit", unit: name, unitDisplay: "long" }).format(n);
  } catch {
    return String(n);
  }
}

/** A duration in the largest sensible unit: "45 Sekunden", "12 minutes", "3 ساعات", "2 days". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return unit(s, "second");
  if (s < 3600) return unit(Math.floor(s / 60), "minute");
  if (s < 86400 * 2) return unit(Math.floor(s / 3600), "hour");
  return unit(Math.floor(s / 86400), "day");
}

// --- route reasons, expected answers -------------------------------------------------------

/**
 * Why this site answers (server/services/routing.py reason codes), in the viewer's language.
 * Params: `site` (slug: the name comes from `site`), `language`, `topic`, `km`, `rank`,
 * `topic_unavailable`.
 */
export function routeReasonText(reason, site) {
  const p = (reason && reason.params) || {};
  const name = (site && site.name) || p.site || "";
  const language = p.language ? languageName(p.language) : "";
  const km = Number.isFinite(Number(p.km)) && p.km !== undefined && p.km !== null ? Math.round(Number(p.km)) : null;
  let text;
  switch (reason && reason.code) {
    case "nearest_language":
      text = km !== null
        ? t("{site} is the nearest site with counselling in {language}, {km} km from you.", { site: name, language, km })
        : t("{site} is the nearest site with counselling in {language}.", { site: name, language });
      break;
    case "nearest":
      text = km !== null
        ? t("{site} is the site nearest to you, {km} km away.", { site: name, km })
        : t("{site} is the site nearest to you.", { site: name });
      break;
    case "online_team":
      text = t("You did not give a place, so the nationwide online team answers.");
      break;
    case "online_team_fallback":
    case "online_team_no_local_site":
      text = t("No site near you can take online enquiries right now, so the nationwide online team answers.");
      break;
    case "online_team_no_local_language":
      text = t("No site near you offers counselling in {language}, so the nationwide online team answers.", { language });
      break;
    case "language_match":
      text = t("{site} offers counselling in {language} online.", { site: name, language });
      break;
    case "online_team_language_unavailable":
    case "nearest_language_unavailable":
      text = t("Nobody offers counselling in {language} yet, so {site} answers. You can write in another language, or simply try: many counsellors speak several languages.", { site: name, language });
      break;
    case "any_site":
    default:
      text = t("{site} answers your message.", { site: name });
  }
  if (p.topic_unavailable) text = `${text} ${t("No site near you names this topic, but the counsellors can still help you or tell you where to go.")}`;
  return text;
}

/** "JMD Trier · speaks German, Arabic" */
export function siteLine(site) {
  if (!site) return "";
  const langs = languageList(site.languages || []);
  return langs ? t("{site}, speaks {languages}", { site: site.name, languages: langs }) : site.name;
}

/** An honest expected answer time from `{code, params}`. */
export function expectedAnswerText(expected) {
  if (!expected || !expected.code) return "";
  const p = expected.params || {};
  switch (expected.code) {
    case "within_minutes":
      return t("Recently answers came within about {duration}.", { duration: duration(60 * Number(p.minutes || 30)) });
    case "within_hours":
      return t("Recently answers came within about {duration}.", { duration: duration(3600 * Number(p.hours || 2)) });
    case "after_opening":
      return p.opens_at
        ? t("The team is not working right now. It starts again {time}; expect an answer after that.", { time: longTime(p.opens_at) })
        : t("The team is not working right now. Expect an answer on the next working day.");
    case "within_48_hours":
      return tn("You will get an answer within {n} hour at the latest.", "You will get an answer within {n} hours at the latest.", Number(p.hours || 48));
    default:
      return t("We cannot say exactly when you will get an answer, but a counsellor will reply as soon as possible.");
  }
}

export function queuePositionText(position) {
  if (!position || position < 1) return "";
  if (position === 1) return t("You are next in line.");
  return tn("{n} person is waiting before you.", "{n} people are waiting before you.", position - 1);
}

// --- system events ---------------------------------------------------------------------------

/** A system event of a conversation in the viewer's language (server codes: claimed,
 * closed {by}, reopened, handed_over, absence {counsellor_id, until}, account_deleted). */
export function systemEventText(system, { myRole = null, names = {} } = {}) {
  const code = system && system.code;
  const p = (system && system.params) || {};
  const name = p.display_name || names[p.counsellor_id] || t("The counsellor");
  switch (code) {
    case "claimed":
      return t("{name} has taken over the conversation.", { name });
    case "closed":
      if (p.by && myRole && p.by === myRole) return t("You closed the conversation.");
      if (p.by === "young_person") return t("The young person closed the conversation.");
      return t("The counsellor closed the conversation.");
    case "reopened":
      return t("The conversation was opened again.");
    case "handed_over":
      return p.to_site_name || p.to_site || p.site_name
        ? t("The conversation was handed over to {site}.", { site: p.to_site_name || p.to_site || p.site_name })
        : t("The conversation was handed over to another team.");
    // Handover (issue #6, chat/handover.js).
    case "handover_proposed":
      return t("A move to {site} was proposed.", { site: p.to_site_name || "" });
    case "handover_declined":
      return t("The move to {site} was declined. The conversation stays here.", { site: p.to_site_name || "" });
    case "reassigned":
      if (myRole === "young_person") return t("Your conversation is now with {name}.", { name });
      return t("{name} has taken over the conversation.", { name });
    case "returned_to_queue":
      return t("The conversation is back in the team's queue.");
    // A counsellor left the team (issue #3, services/team.py): a colleague will take over.
    case "requeued":
      if (myRole === "young_person") return t("Your counsellor is no longer available here. A colleague from the same team will answer you.");
      return t("The counsellor left the team; the conversation is back in the team's queue.");
    case "absence":
      if (p.until) return t("{name} is away until {time}.", { name, time: longTime(p.until) });
      return t("{name} is back.", { name });
    case "account_deleted":
      return t("The young person has deleted their account.");
    case "ended":
      // Moderation (issue #8): the young person only learns that the conversation ended.
      if (myRole === "young_person") return t("This conversation has ended. If you need help, you can start a new enquiry.");
      return t("The young person can no longer write in this conversation.");
    default:
      return t("Something changed in this conversation.");
  }
}
