// Direction of a piece of user text from its first strong character (like Zulip's rtl.ts):
// a message in Arabic inside a German UI is still shown right-to-left, and the reverse.

const RTL = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]|\uD802[\uDC00-\uDFFF]|\uD803[\uDC00-\uDE7F]|\uD83A[\uDC00-\uDFFF]/;
const LTR = /[A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u052F\u1200-\u139F\u1E00-\u1FFF\u2C00-\u2DFF]/;

export function directionOf(text) {
  for (const ch of text) {
    if (RTL.test(ch)) return "rtl";
    if (LTR.test(ch)) return "ltr";
  }
  return "auto";
}
