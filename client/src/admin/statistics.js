// Admin section "Statistics" (#/admin/statistics, issue #9): enquiries per week, site, topic,
// language and age group, first-response times and handovers — counts from metadata only, with
// small numbers suppressed by the server (docs/operations.md "Statistics"). Site leads see the
// sites they lead, admins every site. Charts are SVG drawn here (no library); every chart has a
// title and the same numbers as a table. Right-to-left: bars grow from the right, weeks run
// from right to left. Numbers are formatted with Intl in the UI language.

import { h, clear } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { api } from "../net/api.js";
import { requireAccount, newId } from "../chat/ui.js";
import { duration, languageName, primeTopicNames, topicName, uiTag } from "../chat/format.js";
import { addSection, ADMIN_ROLES } from "./sections.js";

export const path = "/admin/statistics";
export const title = () => t("Statistics");

addSection({
  path, label: title, order: 50, roles: ADMIN_ROLES,
  description: () => t("Enquiries, first-response times and handovers, without personal data; as charts and CSV."),
});

const OTHER = "_other";
const SVG = "http://www.w3.org/2000/svg";

/** An SVG element (text only through textContent, like h()). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function isRtl() {
  return document.documentElement.dir === "rtl";
}

let numberFormat = null;
function num(n) {
  numberFormat = numberFormat || new Intl.NumberFormat(uiTag());
  return numberFormat.format(n);
}

/** A count as shown: the number, or "<5" for a suppressed one. */
function countText(count) {
  return count === null || count === undefined ? t("<5") : num(count);
}

function weekLabel(iso, style = "short") {
  const d = new Date(`${iso}T00:00:00Z`);
  return new Intl.DateTimeFormat(uiTag(), style === "short"
    ? { day: "numeric", month: "short", timeZone: "UTC" }
    : { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(d);
}

function ageLabel(key) {
  if (key === "unknown") return t("Not given");
  return t("{range} years", { range: key });
}

/** Bars per category, one row each: the name above its bar, the count beside the bar. */
function categoryChart(titleText, cells, nameOf) {
  const id = newId("chart");
  const width = 360;
  const rowHeight = 44;
  const barArea = width - 70;
  const max = Math.max(1, ...cells.map((c) => c.count || 0));
  const rtl = isRtl();
  const svg = s("svg", {
    class: "chart", role: "img", "aria-labelledby": `${id}-t`, viewBox: `0 0 ${width} ${cells.length * rowHeight + 4}`,
    width: "100%", preserveAspectRatio: "xMinYMin meet",
  }, s("title", { id: `${id}-t` }, titleText));
  cells.forEach((cell, i) => {
    const y = i * rowHeight;
    const suppressed = cell.count === null;
    const length = suppressed ? 6 : Math.max(cell.count ? 2 : 0, (cell.count / max) * barArea);
    const x = rtl ? width - length : 0;
    svg.append(
      s("text", { class: "chart-label", x: rtl ? width : 0, y: y + 15, direction: rtl ? "rtl" : "ltr" }, nameOf(cell.key)),
      s("rect", { class: suppressed ? "bar suppressed" : "bar", x, y: y + 22, width: length, height: 16, rx: 2 }),
      s("text", {
        class: "chart-value", x: rtl ? width - length - 6 : length + 6, y: y + 35,
        direction: rtl ? "rtl" : "ltr",
      }, countText(cell.count)),
    );
  });
  return svg;
}

/** Vertical bars per week, oldest first (first on the right in right-to-left scripts). */
function weekChart(titleText, cells) {
  const id = newId("chart");
  const width = 360;
  const height = 180;
  const axis = 24;
  const max = Math.max(1, ...cells.map((c) => c.count || 0));
  const slot = width / Math.max(1, cells.length);
  const bar = Math.max(2, slot * 0.7);
  const rtl = isRtl();
  const every = Math.ceil(cells.length / 4);
  const svg = s("svg", {
    class: "chart", role: "img", "aria-labelledby": `${id}-t`, viewBox: `0 0 ${width} ${height + axis}`,
    width: "100%", preserveAspectRatio: "xMinYMin meet",
  }, s("title", { id: `${id}-t` }, titleText),
  s("line", { class: "axis", x1: 0, x2: width, y1: height + 0.5, y2: height + 0.5 }));
  cells.forEach((cell, i) => {
    const slotStart = rtl ? width - (i + 1) * slot : i * slot;
    const x = slotStart + (slot - bar) / 2;
    const suppressed = cell.count === null;
    const barHeight = suppressed ? 8 : (cell.count / max) * (height - 20);
    svg.append(s("rect", { class: suppressed ? "bar suppressed" : "bar", x, y: height - barHeight, width: bar, height: barHeight, rx: 1 }));
    if (i % every === 0) {
      // Labels at the edges are anchored inside the chart, so they are never cut off.
      const centre = slotStart + slot / 2;
      const anchor = centre < 30 ? "start" : centre > width - 30 ? "end" : "middle";
      const x = anchor === "start" ? 1 : anchor === "end" ? width - 1 : centre;
      svg.append(s("text", { class: "chart-tick", x, y: height + 16, "text-anchor": anchor, direction: "ltr" }, weekLabel(cell.key)));
    }
  });
  return svg;
}

function dataTable(captionText, headers, rows) {
  return h("details", { class: "chart-table" },
    h("summary", {}, t("Show the numbers as a table")),
    h("div", { class: "table-wrap" }, h("table", { class: "admin-table" },
      h("caption", {}, captionText),
      h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, ...rows.map(([name, count]) => h("tr", {}, h("th", { scope: "row" }, name), h("td", { class: "num" }, countText(count))))))));
}

function figure(titleText, chart, table, note) {
  return h("figure", { class: "chart-figure" },
    h("figcaption", {}, h("h2", {}, titleText)), chart, note || null, table);
}

function empty(titleText) {
  return h("figure", { class: "chart-figure" }, h("figcaption", {}, h("h2", {}, titleText)), h("p", { class: "admin-status" }, t("No enquiries in this period.")));
}

function categoryFigure(titleText, column, cells, nameOf) {
  if (!cells.length) return empty(titleText);
  const named = (key) => (key === OTHER ? t("Other (small numbers)") : nameOf(key));
  return figure(titleText, categoryChart(titleText, cells, named),
    dataTable(titleText, [column, t("Enquiries")], cells.map((c) => [named(c.key), c.count])));
}

function summary(data) {
  const fr = data.first_response;
  const item = (label, value, testid) => h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-testid": testid }, value));
  return h("dl", { class: "stat-summary" },
    item(t("Enquiries"), countText(data.enquiries.total), "stat-total"),
    item(t("Answered enquiries"), countText(fr.answered), "stat-answered"),
    item(t("Half of the first answers came within"), fr.median_seconds === null ? t("not enough answers") : duration(fr.median_seconds), "stat-median"),
    item(t("Nine in ten first answers came within"), fr.p90_seconds === null ? t("not enough answers") : duration(fr.p90_seconds), "stat-p90"),
    item(t("Handed over to another team"), countText(data.handovers.total), "stat-handovers"));
}

export async function render(container) {
  const heading = t("Statistics");
  const account = await requireAccount(container, heading);
  if (!account) return;
  if (!ADMIN_ROLES.includes(account.role)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for site leads and administrators.")));
    return;
  }
  const since = h("input", { type: "date", id: newId("sf"), name: "from" });
  const until = h("input", { type: "date", id: newId("st"), name: "to" });
  const site = h("select", { id: newId("ss"), name: "site" }, h("option", { value: "" }, t("All my sites")));
  const pick = (label, control) => h("div", { class: "field" }, h("label", { for: control.id }, label), control);
  const download = h("a", { class: "button", href: "/api/statistics.csv", download: "", "data-testid": "statistics-csv" }, t("Download CSV"));
  const filters = h("form", { class: "admin-filters" },
    pick(t("From"), since), pick(t("Until"), until), pick(t("Site"), site),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button primary" }, t("Show")), download));
  const status = h("p", { class: "admin-status", role: "status", "aria-live": "polite" });
  const results = h("div", { class: "statistics-results" });
  container.append(h("section", { class: "admin-page statistics-page" },
    h("p", { class: "admin-back" }, h("a", { href: "#/admin" }, t("Administration"))),
    h("h1", {}, heading),
    h("p", {}, t("Counted from metadata only: no content, no names. Numbers from 1 to 4 are never shown (“<5”); sometimes a further number is hidden as well, so that a small one cannot be worked out from the total. Weeks run from Monday to Sunday (UTC).")),
    filters, status, results));
  await primeTopicNames();

  let sitesFilled = false;
  let siteNames = new Map();
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(); });

  function query() {
    const params = new URLSearchParams();
    if (since.value) params.set("from", since.value);
    if (until.value) params.set("to", until.value);
    if (site.value) params.set("site", site.value);
    return params.toString();
  }

  async function load() {
    const params = query();
    status.textContent = t("Loading…");
    let data;
    try {
      data = await api.get(`/api/statistics${params ? `?${params}` : ""}`);
    } catch (error) {
      status.textContent = error.message;
      return;
    }
    if (!sitesFilled) {
      sitesFilled = true;
      siteNames = new Map(data.scope.sites.map((x) => [x.slug, x.name]));
      site.firstChild.textContent = data.scope.all_sites ? t("All sites") : t("All my sites");
      for (const x of data.scope.sites) site.append(h("option", { value: x.slug }, x.name));
      since.value = data.period.from;
      until.value = data.period.to;
    }
    download.setAttribute("href", `/api/statistics.csv${params ? `?${params}` : ""}`);
    status.textContent = t("From {from} to {to}", { from: weekLabel(data.period.from, "long"), to: weekLabel(data.period.to, "long") });
    show(data);
  }

  function show(data) {
    clear(results);
    const e = data.enquiries;
    const weekly = t("Enquiries per week");
    const siteName = (slug) => siteNames.get(slug) || slug;
    results.append(summary(data));
    results.append(e.total === 0 ? empty(weekly) : figure(weekly, weekChart(weekly, e.per_week),
      dataTable(weekly, [t("Week from"), t("Enquiries")], e.per_week.map((c) => [weekLabel(c.key, "long"), c.count])),
      h("p", { class: "chart-note" }, h("span", { class: "legend-suppressed", "aria-hidden": "true" }), t("Dashed: fewer than 5, or hidden so that a small number cannot be worked out."))));
    const grid = h("div", { class: "chart-grid" });
    if (data.scope.all_sites || data.scope.sites.length > 1) grid.append(categoryFigure(t("Enquiries per site"), t("Site"), e.per_site, siteName));
    grid.append(
      categoryFigure(t("Enquiries per topic"), t("Topic"), e.per_topic, topicName),
      categoryFigure(t("Enquiries per language"), t("Language"), e.per_language, languageName),
      categoryFigure(t("Enquiries per age group"), t("Age group"), e.per_age_group, ageLabel),
    );
    if (data.handovers.per_site.length && (data.scope.all_sites || data.scope.sites.length > 1)) {
      const title = t("Handovers per handing-over site");
      grid.append(figure(title, categoryChart(title, data.handovers.per_site, (k) => (k === OTHER ? t("Other (small numbers)") : siteName(k))),
        dataTable(title, [t("Site"), t("Handovers")], data.handovers.per_site.map((c) => [c.key === OTHER ? t("Other (small numbers)") : siteName(c.key), c.count]))));
    }
    results.append(grid);
  }

  await load();
}
