// Evaluated in the page by tests/browser/test_crypto_interop.py (page.evaluate).
(async ({ modUrl, cases, epochKeys, trusted }) => {
  const m = await import(modUrl);
  const u = (s) => m.b64urlDecode(s);
  const keys = new Map(Object.entries(epochKeys).map(([k, v]) => [Number(k), u(v)]));
  const resolve = async (account, skid) => {
    for (const [acc, pub] of trusted) {
      if (acc === account && (await m.keyId("ed25519", u(pub))) === skid) return u(pub);
    }
    return null;
  };
  const results = [];
  for (const c of cases) {
    try {
      const opened = await m.openEnvelope(c.envelope, { conversationId: c.conv, epochKeys: keys, resolveSigningKey: resolve });
      results.push("ok:" + opened.message.body);
    } catch (e) { results.push(e.code || String(e)); }
  }
  return results;
})
