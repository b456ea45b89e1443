// Byte encodings of protocol version 1 (docs/protocol.md section 3), mirroring
// server/crypto/encoding.py byte for byte.
//
// * base64url without padding, decoded strictly and canonically (one JSON spelling per byte
//   string). Written by hand rather than with atob(), which silently accepts whitespace and
//   padding variants.
// * encodeStruct: the deterministic, length-prefixed binary structure used for everything that is
//   signed, hashed or used as AES-GCM associated data. Never JSON canonicalisation.

import { InvalidInput } from "./errors.js";

export const LABEL_PREFIX = "jmdchat/v1/";
/** Largest integer any structure may carry: JavaScript numbers are exact up to 2^53 - 1. */
export const MAX_SAFE_INT = Number.MAX_SAFE_INTEGER;
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_PATTERN = /^[A-Za-z0-9_-]*$/;
const DECODE = new Map([...ALPHABET].map((c, i) => [c, i]));

/** base64url (RFC 4648 section 5) without padding. */
export function b64urlEncode(bytes) {
  const data = toBytes(bytes);
  let out = "";
  let i = 0;
  for (; i + 3 <= data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63] + ALPHABET[(n >>> 6) & 63] +
      ALPHABET[n & 63];
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i] << 16;
    out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63];
  } else if (rest === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63] + ALPHABET[(n >>> 6) & 63];
  }
  return out;
}

/**
 * Strict, canonical base64url decoding. Refuses padding, whitespace, other alphabets,
 * impossible lengths and non-zero unused trailing bits; `length` (if given) must match.
 */
export function b64urlDecode(text, length = undefined) {
  if (typeof text !== "string" || !B64URL_PATTERN.test(text)) {
    throw new InvalidInput("not base64url");
  }
  if (text.length % 4 === 1) throw new InvalidInput("impossible base64url length");
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const ch of text) {
    acc = (acc << 6) | DECODE.get(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) throw new InvalidInput("non-canonical base64url");
  if (length !== undefined && out.length !== length) {
    throw new InvalidInput(`expected ${length} bytes, got ${out.length}`);
  }
  return out;
}

/** Uint8Array view of a Uint8Array / ArrayBuffer / other typed array; refuses anything else. */
export function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new InvalidInput("expected bytes");
}

/** UTF-8 of a well-formed string (lone surrogates are refused, as Python refuses them). */
export function utf8Encode(text) {
  if (typeof text !== "string") throw new InvalidInput("expected a string");
  if (!isWellFormed(text)) throw new InvalidInput("string is not valid Unicode");
  return new TextEncoder().encode(text);
}

/** Strict UTF-8 decoding (invalid sequences throw instead of becoming U+FFFD). */
export function utf8Decode(bytes) {
  return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(toBytes(bytes));
}

function isWellFormed(text) {
  if (typeof text.isWellFormed === "function") return text.isWellFormed();
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

export function concatBytes(...parts) {
  const arrays = parts.map(toBytes);
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

/** Equality without early exit (for comparing public keys and ids derived from secrets). */
export function bytesEqual(a, b) {
  const x = toBytes(a);
  const y = toBytes(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

function u32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

function u64(n) {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 2 ** 32), false);
  view.setUint32(4, n % 2 ** 32, false);
  return out;
}

function lp(bytes) {
  if (bytes.length >= 2 ** 32) throw new InvalidInput("field too long");
  return concatBytes(u32(bytes.length), bytes);
}

function encodeField(value) {
  if (typeof value === "boolean") throw new InvalidInput("booleans are not encodable");
  if (typeof value === "string") return utf8Encode(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidInput("integer out of range");
    return u64(value);
  }
  if (Array.isArray(value)) {
    const items = value.map((item) => {
      if (typeof item === "string") return lp(utf8Encode(item));
      if (item instanceof Uint8Array) return lp(item);
      throw new InvalidInput("list items must be strings or bytes");
    });
    return concatBytes(u32(value.length), ...items);
  }
  if (value instanceof Uint8Array || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return toBytes(value);
  }
  throw new InvalidInput(`cannot encode ${typeof value}`);
}

/**
 * S(label, f1, ..., fn) of docs/protocol.md section 3.2: lp(label) || lp(enc(f1)) || ...
 * with lp(x) = u32be(len(x)) || x; numbers are u64 big-endian, strings UTF-8, arrays a u32
 * count followed by length-prefixed items.
 */
export function encodeStruct(label, ...fields) {
  if (typeof label !== "string" || !label.startsWith(LABEL_PREFIX)) {
    throw new InvalidInput("structure labels must start with jmdchat/v1/");
  }
  return concatBytes(lp(utf8Encode(label)), ...fields.map((f) => lp(encodeField(f))));
}

export function checkId(value, what = "id") {
  if (typeof value !== "string" || !ID_PATTERN.test(value)) {
    throw new InvalidInput(`${what} must match [A-Za-z0-9_-]{1,64}`);
  }
  return value;
}

export function checkInt(value, lo, hi, what = "integer") {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < lo || value > hi) {
    throw new InvalidInput(`${what} must be an integer in [${lo}, ${hi}]`);
  }
  return value;
}

export function checkBytes(value, length, what = "value") {
  let bytes;
  try {
    bytes = toBytes(value);
  } catch {
    throw new InvalidInput(`${what} must be ${length} bytes`);
  }
  if (bytes.length !== length) throw new InvalidInput(`${what} must be ${length} bytes`);
  return bytes;
}

/** True iff `obj` is a plain JSON object whose own keys are exactly `keys`. */
export function hasExactKeys(obj, keys) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return false;
  const own = Object.keys(obj);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(obj, k));
}
