// Checks in the browser before anything is sent: nickname rules (the server checks them again)
// and password strength (only here: the server never sees the password).
// Every check returns a list of problems as translated, kind sentences; [] means fine.

import { t, tn } from "../i18n/i18n.js";

export const NICKNAME_MIN = 3;
export const NICKNAME_MAX = 32;
export const DEFAULT_PASSWORD_MIN_LENGTH = 10;

// Letters of any script (with their combining marks), digits, _ - . and single spaces.
const NICKNAME_PATTERN = /^[\p{L}\p{M}\p{Nd}_.-]+( [\p{L}\p{M}\p{Nd}_.-]+)*$/u;

export function normaliseNickname(value) {
  return String(value || "").normalize("NFC").trim();
}

export function nicknameProblems(value) {
  const nickname = normaliseNickname(value);
  const length = [...nickname].length;
  if (length === 0) return [t("Please choose a nickname.")];
  const problems = [];
  if (length < NICKNAME_MIN || length > NICKNAME_MAX) {
    problems.push(t("Your nickname needs 3 to 32 characters."));
  }
  if (!NICKNAME_PATTERN.test(nickname)) {
    problems.push(t("Please use only letters, digits, _ - . and single spaces."));
  }
  return problems;
}

// The password minimum comes from the server's configuration (boot data), default 10.
export function passwordMinLength() {
  const boot = (globalThis.jmdchat && globalThis.jmdchat.boot) || {};
  const value = Number(boot.passwordMinLength || (boot.security && boot.security.passwordMinLength));
  return Number.isInteger(value) && value >= 8 ? value : DEFAULT_PASSWORD_MIN_LENGTH;
}

// Very common passwords (and their stems): these are the first ones anyone tries.
const COMMON = [
  "123456", "1234567", "12345678", "123456789", "1234567890", "12345678910", "0123456789",
  "987654321", "0987654321", "111111", "000000", "121212", "123123", "654321", "112233",
  "password", "passwort", "passwort1", "password1", "password123", "passwort123", "pass",
  "qwerty", "qwertz", "qwertzu", "qwertzuiop", "qwertyuiop", "asdfgh", "asdfghjkl", "yxcvbnm",
  "zxcvbnm", "azerty", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "q1w2e3r4", "abc123", "abcdef",
  "abcdefgh", "abcdefghij", "iloveyou", "ichliebedich", "letmein", "welcome", "willkommen",
  "hallo", "hallo123", "hello", "hello123", "secret", "geheim", "geheim123", "admin", "admin123",
  "master", "monkey", "dragon", "football", "fussball", "baseball", "sunshine", "princess",
  "shadow", "superman", "batman", "michael", "jennifer", "charlie", "schalke04", "bvb09",
  "bayern", "deutschland", "germany", "berlin", "hamburg", "muenchen", "schatz", "schatzi",
  "killer", "trustno1", "starwars", "whatever", "freedom", "computer", "internet", "samsung",
  "iphone", "android", "google", "facebook", "instagram", "tiktok", "snapchat", "minecraft",
  "fortnite", "pokemon", "naruto", "jmdchat", "chat", "beratung", "counselling", "migration",
  "ukraine", "afghanistan", "syria", "turkey", "türkiye", "allah", "bismillah", "mohammed",
  "muhammad", "ahmed", "ali", "fatima", "maria", "anna", "alex", "love", "lovely", "liebe",
  "love123", "qwerty123", "a123456", "aa123456", "123qwe", "123abc", "zaq12wsx", "1234qwer",
  "пароль", "йцукен", "йцукенг", "qwerty1", "password!", "passwort!", "sommer", "winter",
];
const COMMON_SET = new Set(COMMON.map((p) => p.normalize("NFC").toLocaleLowerCase()));

function simplify(value) {
  // Ignore case, a trailing run of digits or symbols, and leading digits: "Passwort123!" is "passwort".
  return value.normalize("NFC").toLocaleLowerCase()
    .replace(/[\d\p{P}\p{S}\s]+$/u, "")
    .replace(/^[\d\p{P}\p{S}\s]+/u, "");
}

function isRepetitive(value) {
  const chars = [...value.toLocaleLowerCase()];
  if (new Set(chars).size <= 2) return true;
  // A plain ascending or descending run like "abcdefghij" or "9876543210".
  const codes = chars.map((c) => c.codePointAt(0));
  const steps = new Set(codes.slice(1).map((code, i) => code - codes[i]));
  return steps.size === 1 && [...steps].every((s) => Math.abs(s) === 1);
}

export function isCommonPassword(password) {
  const lower = password.normalize("NFC").toLocaleLowerCase();
  if (COMMON_SET.has(lower)) return true;
  const stem = simplify(password);
  if (stem !== "" && COMMON_SET.has(stem)) return true;
  return isRepetitive(password);
}

/** Problems with a new password, as kind sentences; [] when it is fine. */
export function passwordProblems(password, nickname = "") {
  const value = String(password || "").normalize("NFC");
  const min = passwordMinLength();
  const length = [...value].length;
  if (length === 0) return [t("Please choose a password.")];
  if (length < min) {
    // One thing at a time: a short password is only told that it is short.
    return [tn(
      "Your password needs at least {n} character. Longer is safer: a short sentence you can remember works well.",
      "Your password needs at least {n} characters. Longer is safer: a short sentence you can remember works well.",
      min,
    )];
  }
  const problems = [];
  if (isCommonPassword(value)) {
    problems.push(t("This password is very common, so it is easy to guess. Please choose something more personal."));
  }
  const nick = normaliseNickname(nickname).toLocaleLowerCase();
  if (nick.length >= NICKNAME_MIN && value.toLocaleLowerCase().includes(nick)) {
    problems.push(t("Your password should not contain your nickname: someone who knows your nickname could guess it."));
  }
  return problems;
}

// A rough indication for the meter: 0 too weak, 1 okay, 2 strong.
export function passwordStrength(password, nickname = "") {
  const value = String(password || "");
  if (passwordProblems(value, nickname).length) return 0;
  const kinds = [/\p{Ll}/u, /\p{Lu}/u, /\p{Nd}/u, /[^\p{L}\p{Nd}]/u].filter((re) => re.test(value)).length;
  const length = [...value].length;
  return length >= 16 || (length >= 12 && kinds >= 3) ? 2 : 1;
}

export const AGE_GROUPS = ["12-14", "15-17", "18-21", "22-27"];
