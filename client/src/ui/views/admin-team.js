// The Team screen (#/admin/team) for site leads (their sites) and admins (every site):
// the team list, invitations (the link is shown once, with a copy button), languages,
// removal / deactivation with a confirmation that explains the key rotation, and the state of
// the team key with "create new team key now". The server authorizes every request again.

import { h } from "../dom.js";
import { t, tn } from "../../i18n/i18n.js";
import { requireAccount } from "../../chat/ui.js";
import { languageList, languageName, longTime, shippedLanguages } from "../../chat/format.js";
import { roleName } from "../../account/labels.js";
import { copyText, fingerprintBlock, routeGuard } from "../../account/ui.js";
import { ADMIN_ROLES } from "../../admin/sections.js";
import {
  assignCounsellor, deactivate, fingerprintMadeHere, invite, listSites, loadTeam, lookupCounsellors,
  removeMember, rotate, sealMissing, setLanguages,
} from "../../admin/team.js";

export const path = "/admin/team";
export const title = () => t("Team and counsellors");

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

function languageChoices(site, selected, legend) {
  const codes = [...new Set([...(site.languages || []), ...shippedLanguages().map((l) => l.code), ...selected])];
  const boxes = codes.map((code) => {
    const id = nextId("lang");
    return h("div", { class: "team-lang" },
      h("input", { type: "checkbox", id, name: "languages", value: code, checked: selected.includes(code) }),
      h("label", { for: id }, languageName(code)));
  });
  return h("fieldset", { class: "team-langs" }, h("legend", {}, legend), ...boxes);
}

const checkedLanguages = (root) =>
  [...root.querySelectorAll("input[name=languages]:checked")].map((el) => el.value);

function certificateText(cert) {
  switch (cert.status) {
    case "valid": return t("Certified until {date}", { date: cert.expires_on || "" });
    case "expired": return t("Certificate expired");
    case "missing": return t("Not certified yet");
    default: return t("Certificate not valid for this team");
  }
}

/** A modal confirmation (native <dialog>: focus trap, Escape closes). Resolves true/false. */
function confirmDialog({ heading, paragraphs, confirmLabel }) {
  return new Promise((resolve) => {
    const headingId = nextId("dlg");
    const dialog = h("dialog", { class: "team-dialog", "aria-labelledby": headingId });
    const done = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    const cancel = h("button", { type: "button", class: "button", onclick: () => done(false) }, t("Cancel"));
    dialog.append(
      h("h2", { id: headingId }, heading),
      ...paragraphs.map((text) => h("p", {}, text)),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button danger", onclick: () => done(true) }, confirmLabel),
        cancel),
    );
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

function rotationCard(team, account, { onRotate, onSeal, onRefresh }) {
  const r = team.rotation;
  const meLead = (team.members || []).some((m) => m.id === account.id && m.is_lead);
  const card = h("section", { class: "card team-rotation", "aria-labelledby": "team-key-heading", "data-state": r.state });
  card.append(h("h2", { id: "team-key-heading" }, t("Team key")));
  const status = h("p", { class: "team-key-status", role: "status" });
  card.append(status);
  const button = (label, handler, primary = true) =>
    h("button", { type: "button", class: primary ? "button primary" : "button", onclick: handler }, label);
  switch (r.state) {
    case "due":
      status.textContent = t("Somebody left this team. A new team key is needed so that they cannot read new enquiries.");
      if (meLead) card.append(h("div", { class: "actions" }, button(t("Create new team key now"), onRotate)));
      else card.append(h("p", { class: "hint" }, t("A site lead of this team creates the new key on their device when they open this page.")));
      break;
    case "awaiting_certification": {
      status.textContent = t("Waiting for certification by the operator (team key version {version}).", { version: r.newest_version });
      const fpId = nextId("fp");
      const mine = fingerprintMadeHere(team.site.id, r.newest_version);
      card.append(
        h("p", { id: fpId }, mine
          ? t("Ask the operator to run “jmdchat certify --pending” and to compare this fingerprint of the key made on this device:")
          : t("Ask the operator to run “jmdchat certify --pending” and to compare this fingerprint:")),
        fingerprintBlock(mine || r.fingerprint, fpId),
        h("div", { class: "actions" }, button(t("Check again"), onRefresh, false)),
      );
      break;
    }
    case "sealing":
      status.textContent = tn(
        "The new team key is certified. One colleague still needs it.",
        "The new team key is certified. {n} colleagues still need it.", r.missing.length);
      if (meLead) card.append(h("div", { class: "actions" }, button(t("Hand the team key to the team"), onSeal)));
      break;
    case "no_key":
      status.textContent = t("This team has no key yet. Please ask the operator.");
      break;
    default:
      status.textContent = t("The team key is up to date (version {version}).", { version: r.newest_version });
  }
  return card;
}

function memberItem(team, member, account, actions) {
  const name = member.display_name || member.nickname;
  const langsBox = h("div", { class: "team-lang-editor", hidden: true });
  const item = h("li", { class: "card team-member", "data-account-id": member.id },
    h("h3", {}, name, " ", h("span", { class: "team-role" }, member.is_lead ? roleName("site_lead") : roleName(member.role))),
    h("dl", { class: "team-facts" },
      h("dt", {}, t("Sign-in name")), h("dd", { dir: "auto" }, member.nickname),
      h("dt", {}, t("Languages")), h("dd", {}, member.languages.length ? languageList(member.languages) : t("None set")),
      h("dt", {}, t("Certificate")), h("dd", {}, certificateText(member.certificate)),
      h("dt", {}, t("Last signed in")), h("dd", {}, member.last_seen_on || t("Not signed in recently")),
      h("dt", {}, t("Team key versions")), h("dd", { class: "team-key-versions" },
        member.key_versions.length ? member.key_versions.join(", ") : t("none"))),
  );
  const buttons = h("div", { class: "actions" });
  buttons.append(h("button", {
    type: "button", class: "button", "aria-expanded": "false",
    onclick: (event) => {
      const open = langsBox.hidden;
      langsBox.hidden = !open;
      event.currentTarget.setAttribute("aria-expanded", String(open));
    },
  }, t("Edit languages")));
  if (member.id !== account.id) {
    buttons.append(h("button", { type: "button", class: "button danger-outline", onclick: () => actions.remove(member) },
      t("Remove from team")));
    if (account.role === "admin") {
      buttons.append(h("button", { type: "button", class: "button danger-outline", onclick: () => actions.deactivate(member) },
        t("Deactivate account")));
    }
  }
  const form = h("form", { class: "team-lang-form" },
    languageChoices(team.site, member.languages, t("Languages of {name}", { name })),
    h("button", { type: "submit", class: "button primary" }, t("Save languages")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    actions.languages(member, checkedLanguages(form));
  });
  langsBox.append(form);
  item.append(buttons, langsBox);
  return item;
}

function inviteCard(team, account, onInvited) {
  const nameId = nextId("inv-name");
  const roleId = nextId("inv-role");
  const result = h("div", { class: "team-invite-result", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "team-invite" },
    h("div", { class: "field" }, h("label", { for: nameId }, t("Name shown to young people")),
      h("input", { id: nameId, name: "display_name", maxlength: 64, autocomplete: "off" })),
    account.role === "admin"
      ? h("div", { class: "field" }, h("label", { for: roleId }, t("Role")),
        h("select", { id: roleId, name: "role" },
          h("option", { value: "counsellor" }, roleName("counsellor")),
          h("option", { value: "site_lead" }, roleName("site_lead"))))
      : null,
    languageChoices(team.site, [], t("Languages")),
    h("button", { type: "submit", class: "button primary" }, t("Create invitation link")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.replaceChildren(h("p", {}, t("Creating the invitation…")));
    try {
      const created = await invite(team.site.id, {
        role: form.elements.role ? form.elements.role.value : "counsellor",
        display_name: form.elements.display_name.value.trim(),
        languages: checkedLanguages(form),
      });
      const linkId = nextId("inv-link");
      const linkInput = h("input", { id: linkId, readonly: true, dir: "ltr", class: "team-link" });
      linkInput.value = created.link;
      const copied = h("span", { class: "hint", role: "status" });
      result.replaceChildren(
        h("p", { class: "notice" }, t("This link is shown only once. Send it to the person in a safe way. It is valid until {time}.",
          { time: longTime(created.expires_at) })),
        h("label", { for: linkId }, t("Invitation link")),
        linkInput,
        h("div", { class: "actions" }, h("button", {
          type: "button", class: "button",
          onclick: async () => { copied.textContent = (await copyText(created.link)) ? t("Copied.") : t("Please copy the link by hand."); },
        }, t("Copy link")), copied),
      );
      form.reset();
      onInvited();
    } catch (error) {
      result.replaceChildren(h("p", { class: "error-box", role: "alert" }, error.message));
    }
  });
  return h("section", { class: "card", "aria-labelledby": "team-invite-heading" },
    h("h2", { id: "team-invite-heading" }, t("Invite a counsellor")), form, result);
}

/** Admins: find an existing counsellor and add them to this team (issue #3). */
function assignCard(team, onAssigned) {
  const queryId = nextId("assign-q");
  const results = h("div", { class: "team-assign-results", "aria-live": "polite" });
  const input = h("input", { id: queryId, name: "q", type: "search", maxlength: 64, autocomplete: "off", dir: "auto" });
  const form = h("form", { class: "team-assign", role: "search" },
    h("div", { class: "field" }, h("label", { for: queryId }, t("Name of the counsellor")), input),
    h("button", { type: "submit", class: "button" }, t("Search")));
  const inTeam = new Set(team.members.map((m) => m.id));
  const sitesText = (item) => (item.sites.length
    ? t("Works in: {sites}", { sites: item.sites.map((s) => s.name).join(", ") })
    : t("Works in no team at the moment"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    results.replaceChildren(h("p", {}, t("Searching…")));
    let items;
    try {
      items = await lookupCounsellors(input.value.trim());
    } catch (error) {
      results.replaceChildren(h("p", { class: "error-box", role: "alert" }, error.message));
      return;
    }
    if (!items.length) {
      results.replaceChildren(h("p", {}, t("No counsellor found.")));
      return;
    }
    results.replaceChildren(h("ul", { class: "team-assign-list" }, ...items.map((item) => {
      const already = inTeam.has(item.id);
      const add = h("button", {
        type: "button", class: "button primary", disabled: already || item.deactivated,
        onclick: async () => {
          add.disabled = true;
          try {
            await assignCounsellor(team.site.id, item.id);
            onAssigned(item);
          } catch (error) {
            add.disabled = false;
            results.append(h("p", { class: "error-box", role: "alert" }, error.message));
          }
        },
      }, already ? t("Already in this team") : t("Add {name} to this team", { name: item.display_name }));
      return h("li", { class: "team-assign-item", "data-account-id": item.id },
        h("span", { dir: "auto", class: "team-assign-name" }, item.display_name), " ",
        h("span", { class: "team-role" }, roleName(item.role)),
        h("p", { class: "hint" }, item.deactivated ? t("This account is deactivated.") : sitesText(item)),
        add);
    })));
  });
  return h("section", { class: "card", "aria-labelledby": "team-assign-heading" },
    h("h2", { id: "team-assign-heading" }, t("Add an existing counsellor")),
    h("p", { class: "hint" }, t("They get the team key once the operator has renewed their certificate for this team.")),
    form, results);
}

export async function render(container) {
  const heading = t("Team and counsellors");
  const account = await requireAccount(container, heading, { counsellor: false });
  if (!account) return;
  if (!ADMIN_ROLES.includes(account.role)) {
    container.append(h("h1", {}, heading), h("p", { class: "notice" }, t("This page is for site leads and administrators.")));
    return;
  }
  const moved = routeGuard();
  const page = h("section", { class: "admin-page team-page" }, h("h1", {}, heading));
  const alert = h("div", { class: "team-alert", role: "alert" });
  const info = h("div", { class: "team-info", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "team-body" });
  page.append(h("p", {}, h("a", { href: "#/admin" }, t("Back to the administration"))), alert, info);
  container.append(page);
  let sites;
  try {
    sites = await listSites();
  } catch (error) {
    alert.replaceChildren(h("p", { class: "error-box" }, error.message));
    return;
  }
  if (moved()) return;
  if (!sites.length) {
    page.append(h("p", { class: "notice" }, t("You do not lead a team.")));
    return;
  }
  let siteId = sites[0].id;
  if (sites.length > 1) {
    const pickerId = nextId("site");
    const picker = h("select", { id: pickerId },
      ...sites.map((s) => h("option", { value: s.id }, s.name)));
    picker.addEventListener("change", () => { siteId = picker.value; draw(); });
    page.append(h("div", { class: "field team-site-picker" }, h("label", { for: pickerId }, t("Team")), picker));
  }
  page.append(body);

  const say = (text) => { alert.replaceChildren(); info.replaceChildren(text ? h("p", { class: "notice" }, text) : ""); };
  const fail = (error) => { info.replaceChildren(); alert.replaceChildren(h("p", { class: "error-box" }, error.message)); };

  async function doRotate(team) {
    say(t("Creating the new team key on this device…"));
    try {
      const result = await rotate(team.site.id, team);
      say(result.skipped
        ? tn("New team key created. One colleague gets it once their certificate is renewed.",
          "New team key created. {n} colleagues get it once their certificates are renewed.", result.skipped)
        : t("New team key created and handed to the team. Now the operator has to certify it."));
    } catch (error) {
      fail(error);
    }
    await draw({ keepMessages: true });
  }

  async function doSeal(team) {
    say(t("Handing the team key to the team…"));
    try {
      const result = await sealMissing(team.site.id, team);
      say(tn("The team key was handed to one colleague.", "The team key was handed to {n} colleagues.", result.sealed));
    } catch (error) {
      fail(error);
    }
    await draw({ keepMessages: true });
  }

  const actions = {
    async remove(member) {
      const name = member.display_name || member.nickname;
      const ok = await confirmDialog({
        heading: t("Remove {name} from the team?", { name }),
        paragraphs: [
          t("{name} is signed out at once and can no longer open this team's enquiries. Their open conversations go back to the team's queue.", { name }),
          t("Then the team key is replaced: this device creates a new key and hands it to the remaining team, so that {name} cannot read new enquiries. The operator has to certify the new key. Older conversations stay readable for the team.", { name }),
        ],
        confirmLabel: t("Remove"),
      });
      if (!ok) return;
      try {
        await removeMember(siteId, member.id);
        say(t("{name} was removed from the team.", { name }));
      } catch (error) {
        fail(error);
        return;
      }
      const team = await draw({ keepMessages: true });
      const meLead = team && team.members.some((m) => m.id === account.id && m.is_lead);
      if (team && meLead && team.rotation.state === "due") await doRotate(team);
    },
    async deactivate(member) {
      const name = member.display_name || member.nickname;
      const ok = await confirmDialog({
        heading: t("Deactivate the account of {name}?", { name }),
        paragraphs: [
          t("{name} is signed out everywhere, leaves every team and cannot sign in again.", { name }),
          t("The key of each of their teams has to be replaced: a site lead's device creates the new key, the operator certifies it. Older conversations stay readable for the teams."),
        ],
        confirmLabel: t("Deactivate"),
      });
      if (!ok) return;
      try {
        await deactivate(member.id);
        say(t("The account of {name} was deactivated.", { name }));
      } catch (error) {
        fail(error);
        return;
      }
      await draw({ keepMessages: true });
    },
    async languages(member, languages) {
      try {
        await setLanguages(siteId, member.id, languages);
        say(t("Languages saved."));
      } catch (error) {
        fail(error);
        return;
      }
      await draw({ keepMessages: true });
    },
  };

  async function draw({ keepMessages = false } = {}) {
    if (!keepMessages) { alert.replaceChildren(); info.replaceChildren(); }
    body.setAttribute("aria-busy", "true");
    let team;
    try {
      team = await loadTeam(siteId);
    } catch (error) {
      fail(error);
      body.removeAttribute("aria-busy");
      return null;
    }
    if (moved()) return null;
    const members = h("ul", { class: "team-members" },
      ...team.members.map((m) => memberItem(team, m, account, actions)));
    const invitations = team.invitations.length
      ? h("section", { class: "card", "aria-labelledby": "team-open-inv" },
        h("h2", { id: "team-open-inv" }, t("Open invitations")),
        h("ul", {}, ...team.invitations.map((i) => h("li", {},
          t("{name} ({role}), valid until {time}", {
            name: i.display_name || t("without a name"), role: roleName(i.role), time: longTime(i.expires_at),
          })))))
      : null;
    // replaceChildren() would write "null" for an absent part: leave those out.
    body.replaceChildren(...[
      h("h2", { class: "team-site-name" }, team.site.name),
      rotationCard(team, account, { onRotate: () => doRotate(team), onSeal: () => doSeal(team), onRefresh: () => draw() }),
      h("section", { "aria-labelledby": "team-members-heading" },
        h("h2", { id: "team-members-heading" }, tn("One member", "{n} members", team.members.length)),
        members),
      invitations,
      // The link is shown once: the card stays as it is after inviting (no redraw).
      inviteCard(team, account, () => {}),
      account.role === "admin"
        ? assignCard(team, async (item) => {
          await draw({ keepMessages: true });
          say(t("{name} now works in this team.", { name: item.display_name }));
        })
        : null,
    ].filter(Boolean));
    body.removeAttribute("aria-busy");
    return team;
  }

  await draw();
}
