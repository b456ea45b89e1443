// Evaluated in the page by tests/browser/test_crypto_interop.py (page.evaluate).
(async ({ modUrl, org, now, cases }) => {
  const m = await import(modUrl);
  const out = [];
  for (const c of cases) {
    try {
      await m.verifyCertificate(c.cert, m.b64urlDecode(org), now, c.expect);
      out.push("ok");
    } catch (e) { out.push(e.code || String(e)); }
  }
  return out;
})
