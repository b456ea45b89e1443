// The admin and site-lead area: a registry of sections shown on the hub (#/admin).
// Each admin module adds itself with `addSection`; the hub lists the sections the signed-in
// role may use. The server authorizes every request again: hiding a link is only convenience.

const sections = [];

/**
 * Register a section of the admin area.
 * @param {{path: string, label: () => string, description: () => string, roles: string[], order?: number}} section
 */
export function addSection(section) {
  sections.push(section);
  sections.sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
}

/** The sections the account's role may open, in hub order. */
export function sectionsFor(account) {
  return sections.filter((s) => account && s.roles.includes(account.role));
}

/** Roles that see the admin area at all. */
export const ADMIN_ROLES = ["site_lead", "admin"];
