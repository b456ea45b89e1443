// Client translations. Catalogs are gettext .po files compiled to JSON by the server;
// the current one is embedded in the page (#boot), so the first paint is translated.
// Mark strings with t("...") / tn("...", "...", n): Babel extracts them with the Python ones.

let catalog = { locale: "de", plural: "n != 1", messages: {} };
let pluralIndex = (n) => (n === 1 ? 0 : 1);

// Babel's plural expressions are C-like: translate the few operators JavaScript spells
// differently, then build the selector without eval (CSP forbids it) using a tiny parser.
function compilePlural(expr) {
  const tokens = expr.replace(/\s+/g, "").match(/n|\d+|==|!=|>=|<=|&&|\|\||[?:()%<>!]/g) || [];
  let pos = 0;
  const peek = () => tokens[pos];
  const take = () => tokens[pos++];
  function primary(n) {
    const tok = take();
    if (tok === "(") { const v = ternary(n); take(); return v; }
    if (tok === "!") return primary(n) ? 0 : 1;
    if (tok === "n") return n;
    return Number(tok);
  }
  function mod(n) { let v = primary(n); while (peek() === "%") { take(); v = v % primary(n); } return v; }
  function cmp(n) {
    let v = mod(n);
    while (["<", ">", "<=", ">="].includes(peek())) {
      const op = take(); const r = mod(n);
      v = op === "<" ? +(v < r) : op === ">" ? +(v > r) : op === "<=" ? +(v <= r) : +(v >= r);
    }
    return v;
  }
  function eq(n) {
    let v = cmp(n);
    while (peek() === "==" || peek() === "!=") { const op = take(); const r = cmp(n); v = op === "==" ? +(v === r) : +(v !== r); }
    return v;
  }
  function and(n) { let v = eq(n); while (peek() === "&&") { take(); const r = eq(n); v = +(v && r); } return v; }
  function or(n) { let v = and(n); while (peek() === "||") { take(); const r = and(n); v = +(v || r); } return v; }
  function ternary(n) {
    const c = or(n);
    if (peek() !== "?") return c;
    take(); const a = ternary(n); take(); const b = ternary(n);
    return c ? a : b;
  }
  return (n) => { pos = 0; return Number(ternary(n)); };
}

export function setCatalog(data) {
  catalog = data;
  try { pluralIndex = compilePlural(data.plural || "n != 1"); } catch { pluralIndex = (n) => (n === 1 ? 0 : 1); }
}

export function locale() { return catalog.locale; }

function format(text, params) {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, key) => (key in params ? String(params[key]) : whole));
}

export function t(message, params) {
  const found = catalog.messages[message];
  return format(typeof found === "string" && found ? found : message, params);
}

export function tn(singular, plural, n, params) {
  const forms = catalog.messages[singular];
  let text;
  if (Array.isArray(forms) && forms.length) {
    const index = pluralIndex(n);
    // A broken Plural-Forms expression must not break the page: fall back to the last form.
    text = forms[Number.isInteger(index) && index >= 0 ? Math.min(index, forms.length - 1) : forms.length - 1];
  } else text = n === 1 ? singular : plural;
  return format(text, { n, ...params });
}

// Translate static markup: data-i18n (text), data-i18n-aria (aria-label), data-i18n-title.
export function translateDom(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}
