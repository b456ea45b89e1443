// Evaluated in the page by tests/browser/test_crypto_interop.py (page.evaluate).
(async ({ modUrl, args }) => {
  const m = await import(modUrl);
  const u = (s) => m.b64urlDecode(s);
  const b = (x) => m.b64urlEncode(x);
  const org = u(args.orgPublic);
  const yp = await m.importKeyPairs(u(args.ypX), u(args.ypEd));
  // 1. Verify the chain BEFORE encrypting to the counsellor and the site.
  const c1 = await m.verifyCertificate(args.c1Cert, org, args.now,
    { kind: "counsellor", siteId: args.siteId });
  const siteCert = await m.verifyCertificate(args.siteCert, org, args.now,
    { kind: "site", subject: args.siteId });
  // 2. New conversation, epoch 1: one key, sealed to the site, the counsellor and myself.
  const raw = m.newConversationKey();
  const shares = [];
  for (const pub of [siteCert.x25519Public, c1.x25519Public, yp.x25519.publicKey]) {
    shares.push(await m.sealConversationKey({ conversationId: args.conv, epoch: 1, key: raw,
      recipientX25519Public: pub, senderId: args.ypId, signer: yp }));
  }
  const epochKey = await m.importConversationKey(raw);
  raw.fill(0);
  const envelope = await m.encryptMessage({ conversationId: args.conv, epoch: 1, epochKey,
    senderId: args.ypId, signer: yp, message: { type: "text", body: args.body, sent_at: 1767225600000 } });
  // 3. Receive the counsellor's epoch-2 key share and reply.
  const resolve = async (account, skid) => {
    if (account === args.c1Id && skid === await m.keyId("ed25519", c1.ed25519Public)) return c1.ed25519Public;
    if (account === args.ypId && skid === yp.ed25519KeyId) return yp.ed25519.publicKey;
    return null;
  };
  const own = await m.openConversationKey(shares[2], { conversationId: args.conv, recipient: yp, resolveSigningKey: resolve });
  const k2 = await m.openConversationKey(args.replyShare, { conversationId: args.conv, recipient: yp, resolveSigningKey: resolve });
  const epochKeys = new Map([[1, own.key], [k2.epoch, k2.key]]);
  const reply = await m.openEnvelope(args.reply, { conversationId: args.conv, epochKeys, resolveSigningKey: resolve });
  const mine = await m.openEnvelope(envelope, { conversationId: args.conv, epochKeys, resolveSigningKey: resolve });
  return { shares, envelope, reply: reply.message, mine: mine.message.body, k2epoch: k2.epoch,
    replySender: reply.envelope.sender };
})
