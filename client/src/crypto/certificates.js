// Verification of counsellor and site certificates signed by the organisation key
// (docs/protocol.md section 7.1). Mirrors server/crypto/certificates.py; issuing happens only in
// the admin CLI (Python).

import {
  MAX_SAFE_INT,
  b64urlDecode,
  checkBytes,
  checkId,
  checkInt,
  encodeStruct,
  hasExactKeys,
} from "./encoding.js";
import {
  CertificateBadSignature,
  CertificateError,
  CertificateExpired,
  CertificateNotYetValid,
  CertificateWrongIssuer,
  CertificateWrongKind,
  CertificateWrongSubject,
  InvalidInput,
} from "./errors.js";
import { keyId } from "./keys.js";
import { KEY_LEN, SIG_LEN, ed25519Verify } from "./primitives.js";

export const CERT_VERSION = 1;
export const CLOCK_SKEW = 300;
const KINDS = ["counsellor", "site"];
const CERT_KEYS = ["v", "kind", "sub", "sites", "x25519", "ed25519", "kv", "iat", "exp", "iss",
  "sig"];
const MAX_SITES = 64;

/** The signed bytes: S("jmdchat/v1/cert", 1, kind, sub, sites, x25519, ed25519, kv, iat, exp,
 * iss). */
export function certificateSignedBytes(cert) {
  return encodeStruct("jmdchat/v1/cert", CERT_VERSION, cert.kind, cert.subject, cert.sites,
    cert.x25519Public, cert.ed25519Public, cert.keyVersion, cert.issuedAt, cert.expiresAt,
    cert.issuer);
}

/** Shape check only (no signature, no time); throws CertificateError. */
export function parseCertificate(obj) {
  try {
    if (!hasExactKeys(obj, CERT_KEYS)) {
      throw new InvalidInput("certificate must have exactly the documented keys");
    }
    if (checkInt(obj.v, 0, MAX_SAFE_INT, "v") !== CERT_VERSION) {
      throw new InvalidInput("unsupported certificate version");
    }
    if (!KINDS.includes(obj.kind)) throw new InvalidInput("kind must be counsellor or site");
    const subject = checkId(obj.sub, "subject");
    if (!Array.isArray(obj.sites) || obj.sites.length < 1 || obj.sites.length > MAX_SITES) {
      throw new InvalidInput("sites must be a list of 1 to 64 site ids");
    }
    const sites = obj.sites.map((s) => checkId(s, "site id"));
    // Sorted (by code point, as Python sorts str) and distinct: one byte form per set of sites.
    for (let i = 1; i < sites.length; i++) {
      if (!(sites[i - 1] < sites[i])) throw new InvalidInput("sites must be sorted and distinct");
    }
    if (obj.kind === "site" && !(sites.length === 1 && sites[0] === subject)) {
      throw new InvalidInput("a site certificate lists exactly its own site");
    }
    if (typeof obj.iss !== "string" || obj.iss.length !== 22) {
      throw new InvalidInput("iss must be a key id");
    }
    const issuedAt = checkInt(obj.iat, 0, MAX_SAFE_INT, "iat");
    return Object.freeze({
      kind: obj.kind,
      subject,
      sites: Object.freeze(sites),
      x25519Public: b64urlDecode(obj.x25519, KEY_LEN),
      ed25519Public: b64urlDecode(obj.ed25519, KEY_LEN),
      keyVersion: checkInt(obj.kv, 1, MAX_SAFE_INT, "kv"),
      issuedAt,
      expiresAt: checkInt(obj.exp, issuedAt + 1, MAX_SAFE_INT, "exp"),
      issuer: obj.iss,
      signature: b64urlDecode(obj.sig, SIG_LEN),
    });
  } catch (err) {
    if (err instanceof InvalidInput) throw new CertificateError(`malformed certificate: ${err.message}`);
    throw err;
  }
}

/**
 * Verify shape, issuer, signature, kind, subject / site membership and validity period.
 * `now` is integer UTC seconds. Clients call this BEFORE sealing anything to a counsellor or
 * site key and before trusting a counsellor's signature. Returns the parsed certificate.
 */
export async function verifyCertificate(cert, orgPublicKey, now, { kind, subject, siteId } = {}) {
  const org = checkBytes(orgPublicKey, KEY_LEN, "organisation public key");
  checkInt(now, 0, MAX_SAFE_INT, "now");
  const parsed = parseCertificate(cert);
  if (parsed.issuer !== (await keyId("ed25519", org))) {
    throw new CertificateWrongIssuer("certificate not issued by this organisation key");
  }
  if (!(await ed25519Verify(org, parsed.signature, certificateSignedBytes(parsed)))) {
    throw new CertificateBadSignature("certificate signature invalid");
  }
  if (kind !== undefined && kind !== null && parsed.kind !== kind) {
    throw new CertificateWrongKind(`expected a ${kind} certificate`);
  }
  if (subject !== undefined && subject !== null && parsed.subject !== subject) {
    throw new CertificateWrongSubject("certificate is for another subject");
  }
  if (siteId !== undefined && siteId !== null && !parsed.sites.includes(siteId)) {
    throw new CertificateWrongSubject("certificate does not cover this site");
  }
  if (now >= parsed.expiresAt) throw new CertificateExpired("certificate expired");
  if (now + CLOCK_SKEW < parsed.issuedAt) {
    throw new CertificateNotYetValid("certificate issued in the future");
  }
  return parsed;
}
