// Public API of the jmdchat protocol, version 1 (docs/protocol.md), for the browser.
// Import from here; the other modules are implementation detail. Functions whose names end in
// "With" take caller-chosen nonces / ephemeral keys and exist only for the test vectors:
// application code never calls them.

export * from "./errors.js";
export {
  b64urlDecode,
  b64urlEncode,
  encodeStruct,
  utf8Decode,
  utf8Encode,
} from "./encoding.js";
export {
  openSealed,
  seal,
  sealWith,
} from "./primitives.js";
export {
  DEFAULT_PBKDF2_ITERATIONS,
  MIN_PBKDF2_ITERATIONS,
  createIdentity,
  deriveRecoveryKeys,
  derivePasswordKeys,
  fingerprint,
  formatRecoveryCode,
  generateRecoveryCode,
  importKeyPairs,
  keyId,
  newKdfParams,
  parseKdfParams,
  parseRecoveryCode,
  rewrapIdentity,
  unwrapIdentity,
  wrapSecretsWithNonce,
} from "./keys.js";
export {
  certificateSignedBytes,
  parseCertificate,
  verifyCertificate,
} from "./certificates.js";
export {
  createSiteKey,
  openSiteKey,
  sealSiteKey,
  sealSiteKeyWith,
  siteKeyBoxAad,
} from "./sites.js";
export {
  MAX_EPOCH,
  PAD_BLOCK,
  checkMessage,
  encryptEnvelopeWith,
  encryptMessage,
  importConversationKey,
  messageHeader,
  messageSignedBytes,
  newConversationKey,
  openConversationKey,
  resealConversationKey,
  openEnvelope,
  pad,
  parseMessage,
  sealConversationKey,
  sealConversationKeyWith,
  serializeMessage,
  unpad,
  validateEnvelopeShape,
  validateKeyShareShape,
} from "./conversation.js";
