// Texts and small widgets shared by several account screens.

import { h } from "../ui/dom.js";
import { t } from "../i18n/i18n.js";
import { passwordMinLength, passwordStrength } from "./rules.js";

export function localeOptions() {
  const boot = (window.jmdchat && window.jmdchat.boot) || { locales: [] };
  return boot.locales.map((loc) => ({ value: loc.code, label: loc.name, lang: loc.tag, dir: loc.dir }));
}

export function nicknameHint() {
  return t("3 to 32 characters: letters, digits, _ - . and spaces. Do not use your real name.");
}

export function passwordHint() {
  return t("At least {n} characters. Not a common password and not your nickname. A short sentence you can remember works well.", { n: passwordMinLength() });
}

// A small strength meter under the new password (text, not only colour).
export function strengthMeter(input, getNickname) {
  const id = `${input.id}-strength`;
  const label = h("span", { class: "strength-label" });
  const meter = h("p", { id, class: "strength", "data-level": "none" }, label);
  const labels = [t("Password strength: too weak"), t("Password strength: okay"), t("Password strength: strong")];
  const update = () => {
    if (!input.value) { meter.dataset.level = "none"; label.textContent = ""; return; }
    const level = passwordStrength(input.value, getNickname());
    meter.dataset.level = String(level);
    label.textContent = labels[level];
  };
  input.addEventListener("input", update);
  const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  input.setAttribute("aria-describedby", [...ids, id].join(" "));
  return meter;
}

export function roleName(role) {
  switch (role) {
    case "young_person": return t("Young person");
    case "counsellor": return t("Counsellor");
    case "site_lead": return t("Site lead");
    case "admin": return t("Administrator");
    default: return role;
  }
}
