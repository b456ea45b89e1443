// Team management (issues #3, #9): the API calls of the Team screen and the site key rotation
// a site lead's browser performs (docs/protocol.md 7.2, "Rotation when somebody leaves").
//
// Rotation, as this device does it:
//   1. make site key version n+1 (X25519 + Ed25519, WebCrypto: createSiteKey), seal it to the
//      lead's own identity and register it (POST /api/sites/{id}/keys);
//   2. seal it right away to every remaining member whose counsellor certificate for this site
//      verifies against the organisation key (POST /api/sites/{id}/keys/seal). Their browsers
//      use it only once the operator has certified it, and only if it matches the certificate;
//   3. show the fingerprint the operator compares in `jmdchat certify --pending`;
//   4. after certification, members that had no valid certificate yet get their box from
//      `sealMissing` (this device opens its own box of the certified version and re-seals it).
// Raw private bytes exist only in this module's functions and are overwritten after use.

import { api, segment } from "../net/api.js";
import { addSection } from "./sections.js";
import { t } from "../i18n/i18n.js";
import {
  b64urlDecode, b64urlEncode, createSiteKey, fingerprint, sealSiteKey, verifyCertificate,
} from "../crypto/protocol.js";
import { openSiteKeyForSealing, wipeSiteKey } from "../crypto/sites.js";
import { certificateObject, myIdentity, orgPublicKey, verifySiteCertificate } from "../chat/keys.js";

addSection({
  path: "/admin/team",
  label: () => t("Team and counsellors"),
  description: () => t("Invite counsellors, set their languages, remove them; keep the team key up to date."),
  roles: ["site_lead", "admin"],
  order: 20,
});

const base = (siteId) => `/api/sites/${segment(siteId)}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

export const listSites = async () => (await api.get("/api/team/sites")).sites || [];
export const loadTeam = (siteId) => api.get(`${base(siteId)}/team`);
export const invite = (siteId, body) => api.post(`${base(siteId)}/team/invitations`, body);
export const setLanguages = (siteId, accountId, languages) =>
  api.post(`${base(siteId)}/team/${segment(accountId)}/languages`, { languages });
export const removeMember = (siteId, accountId) => api.del(`${base(siteId)}/team/${segment(accountId)}`);
export const deactivate = (accountId) => api.post(`/api/accounts/${segment(accountId)}/deactivate`, {});
// Issue #3 (admins): look up existing counsellors, add one to this team. The team key reaches
// them like any new member: once the operator renewed their certificate, a lead's device seals
// it ("sealing" on the team key card).
export const lookupCounsellors = async (query) =>
  (await api.get(`/api/team/counsellors?${new URLSearchParams({ q: query })}`)).items || [];
export const assignCounsellor = (siteId, accountId) => api.post(`${base(siteId)}/team`, { account_id: accountId });

/** Fingerprints of site key versions made on this device (this page's lifetime). */
const madeHere = new Map(); // `${siteId}:${version}` -> fingerprint

export function fingerprintMadeHere(siteId, version) {
  return madeHere.get(`${siteId}:${version}`) || null;
}

export class TeamKeyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "TeamKeyError";
    this.code = code;
  }
}

/** Is the listed colleague's certificate valid for this site and for the listed keys? */
async function certifiedX25519(member, siteId) {
  if (!member.certificate_b64) return null;
  try {
    const cert = await verifyCertificate(certificateObject(member.certificate_b64), await orgPublicKey(),
      nowSeconds(), { kind: "counsellor", subject: member.id, siteId });
    if (b64urlEncode(cert.x25519Public) !== member.x25519_public) return null;
    return cert.x25519Public;
  } catch {
    return null;
  }
}

/** Seal `siteKey` (raw secrets) to every listed colleague who lacks it and is certified.
 * Returns {sealed, skipped} counts; a colleague without a valid certificate is skipped. */
async function sealToTeam(siteId, siteKey, members, myId) {
  let sealed = 0;
  let skipped = 0;
  for (const member of members) {
    if (member.id === myId || (member.key_versions || []).includes(siteKey.keyVersion)) continue;
    const publicKey = await certifiedX25519(member, siteId);
    if (!publicKey) {
      skipped += 1;
      continue;
    }
    const box = await sealSiteKey(siteKey, publicKey);
    await api.post(`${base(siteId)}/keys/seal`, {
      account_id: member.id, version: siteKey.keyVersion, sealed: b64urlEncode(box),
    });
    sealed += 1;
  }
  return { sealed, skipped };
}

/** Steps 1–3: a new site key version, sealed to me and to the certified remaining members. */
export async function rotate(siteId, team) {
  const { account, identity } = await myIdentity();
  const me = (team.members || []).find((m) => m.id === account.id);
  if (!me || !me.is_lead) throw new TeamKeyError("not_lead", t("Only a site lead of this team can create its key."));
  const version = (team.rotation.newest_version || 0) + 1;
  const siteKey = await createSiteKey(siteId, version);
  try {
    const own = await sealSiteKey(siteKey, identity.x25519.publicKey);
    const created = await api.post(`${base(siteId)}/keys`, {
      x25519_public: b64urlEncode(siteKey.x25519Public),
      ed25519_public: b64urlEncode(siteKey.ed25519Public),
      sealed: b64urlEncode(own),
    });
    if (created.version !== version) {
      throw new TeamKeyError("changed", t("Somebody else changed the team key meanwhile. Please reload the page."));
    }
    madeHere.set(`${siteId}:${version}`, await fingerprint(siteKey.x25519Public, siteKey.ed25519Public));
    const result = await sealToTeam(siteId, siteKey, team.members || [], account.id);
    return { version, ...result };
  } finally {
    wipeSiteKey(siteKey);
  }
}

/** Step 4: hand the newest CERTIFIED version to members that still lack it. */
export async function sealMissing(siteId, team) {
  const { account, identity } = await myIdentity();
  const version = team.rotation.newest_version;
  const mine = (await api.get("/api/me/site-keys")).sealed || [];
  const box = mine.find((b) => b.site_id === siteId && b.version === version);
  if (!box) throw new TeamKeyError("no_site_key", t("This device does not hold the new team key. Another site lead has to hand it over."));
  const listed = ((await api.get(`${base(siteId)}/keys`)).keys || []).find((k) => k.version === version);
  if (!listed) throw new TeamKeyError("not_certified", t("The new team key is not certified yet."));
  const cert = await verifySiteCertificate(siteId, listed);
  const siteKey = await openSiteKeyForSealing(b64urlDecode(box.sealed), identity, cert);
  try {
    return await sealToTeam(siteId, siteKey, team.members || [], account.id);
  } finally {
    wipeSiteKey(siteKey);
  }
}
