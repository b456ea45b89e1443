// Evaluated in the page by tests/browser/test_crypto_interop.py (page.evaluate).
(async ({ modUrl, args }) => {
  const m = await import(modUrl);
  const u = (s) => m.b64urlDecode(s);
  const signer = await m.importKeyPairs(u(args.x), u(args.ed));
  return m.encryptMessage({ conversationId: args.conv, epoch: 1, epochKey: u(args.key),
    senderId: args.sender, signer, message: { type: "text", body: args.body, sent_at: 5 } });
})
