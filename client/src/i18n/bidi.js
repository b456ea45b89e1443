// Direction of a piece of user text from its first strong character (like Zulip's rtl.ts):
// a message in Arabic inside a German UI is still shown right-to-left, and the reverse.
// Digits, punctuation, spaces and emoji are skipped; text without any letter is "auto".

// Right-to-left scripts: Hebrew, Arabic, Syriac, Thaana, N'Ko, Samaritan, Mandaic, Arabic
// Extended and presentation forms; outside the BMP (as surrogate pairs): U+10800–U+10FFF
// (Cypriot … Old Uyghur; the right-to-left historic scripts) and U+1E800–U+1EFFF (Mende Kikakui,
// Adlam, Arabic mathematical letters).
const RTL = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]|\uD802[\uDC00-\uDFFF]|\uD803[\uDC00-\uDFFF]|\uD83A[\uDC00-\uDFFF]|\uD83B[\uDC00-\uDEFF]/;
// Any other letter is left-to-right (Latin, Cyrillic, Ethiopic, Devanagari, CJK, …). Browsers
// without Unicode property escapes fall back to the common left-to-right scripts.
const LTR = (() => {
  try {
    return new RegExp("\\p{L}", "u");
  } catch {
    return /[A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u052F\u1200-\u139F\u1E00-\u1FFF\u2C00-\u2DFF]/;
  }
})();
// Letters inside the RTL blocks that are not strong (Arabic-Indic digits are numbers, not
// letters): skip them so "١٢٣" stays "auto" like "123".
const WEAK = /[\u0660-\u0669\u06F0-\u06F9\u064B-\u065F\u0670\u06D6-\u06ED]/;

export function directionOf(text) {
  for (const ch of text) {
    if (WEAK.test(ch)) continue;
    if (RTL.test(ch)) return "rtl";
    if (LTR.test(ch)) return "ltr";
  }
  return "auto";
}
