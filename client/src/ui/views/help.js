// "Help now": crisis contacts in the reader's language, one tap from every screen (the header
// link in index.html). Everything here works without an account and without waiting for a
// counsellor: free phone numbers in Germany, each a tel: link, with one sentence on when to
// call. The organisations' names stay German (marked lang="de", translate="no") because that is
// what people hear on the phone and find on the web; numbers are laid out left-to-right, so
// "0800 111 0 111" is not reordered in Arabic, Persian or Pashto.

import { h } from "../dom.js";
import { t } from "../../i18n/i18n.js";

export const path = "/help";
export const title = () => t("Help now");

function phoneIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  for (const [key, value] of Object.entries({ class: "icon", "aria-hidden": "true", focusable: "false",
    viewBox: "0 0 24 24", width: "20", height: "20", fill: "none", stroke: "currentColor",
    "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" })) {
    svg.setAttribute(key, value);
  }
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", "M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2");
  svg.append(p);
  return svg;
}

/** A call button: the number (always left-to-right) and, if given, what it is for. */
function call(number, label, describedBy) {
  const digits = number.replace(/\s+/g, "");
  return h("a", { class: "help-call", href: `tel:${digits}`, "aria-describedby": describedBy },
    phoneIcon(),
    h("span", { class: "help-number", dir: "ltr" }, number),
    label ? h("span", { class: "help-label" }, label) : null,
  );
}

function contact(id, heading, text, calls, { properName = false } = {}) {
  const titleId = `help-${id}-title`;
  return h("li", { class: `card help-contact help-${id}` },
    h("h2", { id: titleId, ...(properName ? { lang: "de", translate: "no" } : {}) }, heading),
    h("p", {}, text),
    h("div", { class: "help-calls" }, calls.map(([number, label]) => call(number, label, titleId))),
  );
}

export function render(container) {
  container.append(
    h("div", { class: "card help-intro" },
      h("h1", {}, t("Help right now")),
      h("p", { class: "lead" },
        t("If you are in danger, or if you are thinking about hurting yourself, you do not have to wait for an answer here. These numbers help right away.")),
      h("p", {}, t("All calls are free. You do not have to say your name.")),
    ),
    h("ul", { class: "help-list" },
      contact("emergency", t("Emergency"),
        t("If your life or someone else's life is in danger right now. Day and night."),
        [["112", t("Ambulance and fire brigade")], ["110", t("Police")]]),
      contact("nummer-gegen-kummer", "Nummer gegen Kummer",
        t("For children and young people: talk about anything that worries you. Monday to Saturday, 2 pm to 8 pm."),
        [["116 111", null]], { properName: true }),
      contact("telefonseelsorge", "TelefonSeelsorge",
        t("Someone listens and talks with you about anything, day and night (24 hours)."),
        [["0800 111 0 111", null], ["0800 111 0 222", null]], { properName: true }),
    ),
    h("p", { class: "notice" },
      t("On these numbers people mostly speak German. If German is hard for you, say which language you speak, or ask someone you trust to call with you.")),
    h("p", {}, h("a", { class: "button", href: "#/" }, t("Back to the start page"))),
  );
}
