// Site finder for young people, no account needed: type a postcode or town (and optionally
// the language you want to speak), see the nearest JMD sites with address, distance, opening
// hours and contact, and the online team as the alternative. The server decides the order and
// says why with a reason code (GET /api/sites/nearest); this view words it in the UI language.
// Privacy: the query goes to our server only, is not put in the URL and is not stored.

import { h, clear } from "../dom.js";
import { t, tn } from "../../i18n/i18n.js";
import { api } from "../../net/api.js";
import { languageName, uiTag } from "../../chat/format.js";

export const path = "/sites";
export const title = () => t("Find a JMD near you");

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const RESULTS = 5;

function dayName(index) {
  // 1 January 2024 was a Monday.
  try {
    return new Intl.DateTimeFormat(uiTag(), { weekday: "long", timeZone: "UTC" })
      .format(new Date(Date.UTC(2024, 0, 1 + index)));
  } catch {
    return WEEKDAYS[index];
  }
}

function distanceText(km) {
  if (km === null || km === undefined) return "";
  if (km < 1) return t("less than 1 km");
  try {
    return new Intl.NumberFormat(uiTag(), { style: "unit", unit: "kilometer", maximumFractionDigits: km < 10 ? 1 : 0 }).format(km);
  } catch {
    return `${Math.round(km)} km`;
  }
}

/** Why a site is listed, in the viewer's language (reason codes: server/services/routing.py). */
export function describeReason(reason, km) {
  const language = reason.language ? languageName(reason.language) : "";
  const distance = distanceText(km);
  const first = reason.rank === 1;
  switch (reason.code) {
    case "nearest":
      return first ? t("Nearest JMD to you, {distance}", { distance }) : t("{distance} away", { distance });
    case "nearest_language":
      return first
        ? t("Nearest JMD that speaks {language}, {distance}", { language, distance })
        : t("Speaks {language}, {distance} away", { language, distance });
    case "online_team_no_local_language":
      return t("No JMD near you speaks {language}; the online team does.", { language });
    case "online_team_language_unavailable":
      return t("Nobody in the directory lists {language} yet; the online team will still help you.", { language });
    case "language_match":
      return t("Speaks {language} and answers online", { language });
    default:
      return t("Answers online from anywhere in Germany");
  }
}

// Proper names, streets, phone numbers and e-mail addresses are isolated, so that in a
// right-to-left page "Caritasverband Trier e. V." keeps its final full stop where it belongs.
function bdi(text) {
  return h("bdi", {}, text);
}

function hoursList(hours) {
  const days = WEEKDAYS.map((day, index) => [index, hours[day] || []]).filter(([, ranges]) => ranges.length);
  if (!days.length) return null;
  return h("dl", { class: "site-hours" },
    days.flatMap(([index, ranges]) => [
      h("dt", {}, dayName(index)),
      // Times read left to right in every script we ship.
      h("dd", {}, h("span", { dir: "ltr" }, ranges.map(([from, to]) => `${from}–${to}`).join(", "))),
    ]),
  );
}

function contactList(site) {
  const items = [];
  if (site.phone) items.push(h("li", {}, h("a", { href: `tel:${site.phone.replace(/[^\d+]/g, "")}`, dir: "ltr" }, site.phone)));
  if (site.email) items.push(h("li", {}, h("a", { href: `mailto:${site.email}`, dir: "ltr" }, site.email)));
  if (site.website) {
    items.push(h("li", {}, h("a", { href: site.website, rel: "noopener noreferrer", target: "_blank" }, t("Website"))));
  }
  if (site.latitude !== null && site.longitude !== null && !site.is_online_team) {
    const url = `https://www.openstreetmap.org/?mlat=${site.latitude}&mlon=${site.longitude}#map=16/${site.latitude}/${site.longitude}`;
    items.push(h("li", {}, h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, t("Show on a map"))));
  }
  return items.length ? h("ul", { class: "site-contact", "aria-label": t("Contact") }, items) : null;
}

function siteCard(found, headingLevel = "h2") {
  const site = found.site;
  const languages = site.languages.map(languageName).join(", ");
  const hours = hoursList(site.opening_hours);
  return h("article", { class: "card site-card", "aria-labelledby": `site-${site.slug}` },
    h(headingLevel, { id: `site-${site.slug}` }, bdi(site.name)),
    h("p", { class: "site-reason" }, describeReason(found.reason, found.km)),
    site.provider ? h("p", { class: "site-provider" }, bdi(site.provider)) : null,
    site.street || site.city
      ? h("address", { class: "site-address" },
        site.street ? bdi(site.street) : null, site.street ? h("br") : null,
        bdi(`${site.postcode} ${site.city}`.trim()))
      : null,
    site.runs_quartier ? h("p", {}, h("span", { class: "badge" }, t("JMD im Quartier: activities in the neighbourhood"))) : null,
    h("p", { class: "site-languages" }, t("Counselling in: {languages}", { languages })),
    hours ? h(headingLevel === "h2" ? "h3" : "h4", { class: "site-subheading" }, t("Opening hours")) : null,
    hours,
    contactList(site),
  );
}

function languageOption(code) {
  const name = languageName(code);
  let own = "";
  try {
    own = new Intl.DisplayNames([code.replace("_", "-")], { type: "language" }).of(code.replace("_", "-")) || "";
  } catch {
    own = "";
  }
  // Name each language in the UI language and in itself: "Arabisch – العربية".
  const label = own && own !== name && code !== "fa_AF" && code !== "ku" ? `${name} – ${own}` : name;
  return h("option", { value: code }, label);
}

export function render(container) {
  const input = h("input", {
    id: "site-query", name: "q", type: "text", required: true, maxlength: "100",
    autocomplete: "postal-code", spellcheck: "false", "aria-describedby": "site-query-hint",
  });
  const language = h("select", { id: "site-language", name: "language" },
    h("option", { value: "" }, t("Any language")));
  const submit = h("button", { class: "button primary", type: "submit" }, t("Search"));
  const errorBox = h("div", { class: "field-errors" });
  const status = h("p", { id: "site-status", class: "site-status", role: "status", "aria-live": "polite" });
  const results = h("div", { id: "site-results", class: "site-results" });

  const form = h("form", { class: "site-search", role: "search", "aria-labelledby": "site-finder-title", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "site-query" }, t("Postcode or town")),
      input,
      h("p", { id: "site-query-hint", class: "hint" }, t("For example 54290 or Trier.")),
      errorBox,
    ),
    h("div", { class: "field" },
      h("label", { for: "site-language" }, t("Language for the counselling (optional)")),
      language,
    ),
    h("div", { class: "site-submit" }, submit),
  );

  function showError(message) {
    clear(errorBox);
    // role=alert is announced as soon as it is inserted; the input points at it.
    errorBox.append(h("p", { id: "site-query-error", class: "error field-error", role: "alert" }, message));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "site-query-hint site-query-error");
    status.textContent = "";
    input.focus();
  }

  function clearError() {
    clear(errorBox);
    input.removeAttribute("aria-invalid");
    input.setAttribute("aria-describedby", "site-query-hint");
  }

  let searchCount = 0;
  async function search(event) {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) {
      clear(results);
      showError(t("Please enter a postcode or the name of your town."));
      return;
    }
    clearError();
    const token = ++searchCount;
    submit.disabled = true;
    results.setAttribute("aria-busy", "true");
    status.textContent = t("Searching…");
    const params = new URLSearchParams({ q, limit: String(RESULTS) });
    if (language.value) params.set("language", language.value);
    try {
      const data = await api.get(`/api/sites/nearest?${params}`);
      if (token !== searchCount) return;
      showResults(data);
    } catch (error) {
      if (token !== searchCount) return;
      clear(results);
      showError(error.message);
    } finally {
      if (token === searchCount) {
        submit.disabled = false;
        results.removeAttribute("aria-busy");
      }
    }
  }

  function showResults(data) {
    clear(results);
    const place = data.location.label;
    if (data.sites.length) {
      status.textContent = tn("{n} JMD found near {place}.", "{n} JMD sites found near {place}, nearest first.",
        data.sites.length, { place });
    } else {
      status.textContent = t("No JMD near {place} matches your search. The online team can help you.", { place });
    }
    if (data.sites.length) {
      results.append(h("ol", { class: "site-list", "aria-label": t("JMD sites near {place}", { place }) },
        data.sites.map((found) => h("li", {}, siteCard(found)))));
    }
    for (const team of data.online_teams) {
      results.append(h("section", { class: "site-online", "aria-labelledby": "site-online-title" },
        h("h2", { id: "site-online-title" }, t("Rather write online?")),
        h("p", {}, t("The online team answers from anywhere in Germany, in many languages. Your messages are encrypted.")),
        siteCard(team, "h3"),
        h("p", {}, h("a", { class: "button primary", href: "#/register" }, t("Start writing"))),
      ));
    }
  }

  form.addEventListener("submit", search);
  container.append(
    h("section", { class: "site-finder", "aria-labelledby": "site-finder-title" },
      h("h1", { id: "site-finder-title" }, t("Find a JMD near you")),
      h("p", { class: "lead" },
        t("The Youth Migration Services (JMD) have teams all over Germany. Find one near you to visit, or write to them online.")),
      h("p", { class: "hint" }, t("What you type here is only used for this search. It is not saved.")),
      form,
      status,
      results,
    ),
  );

  // The language list is a nice-to-have: if it does not load, "Any language" still works.
  api.get("/api/sites/languages").then((data) => {
    for (const code of data.languages) language.append(languageOption(code));
  }).catch(() => {});
}
