// Typed protocol errors (docs/protocol.md section 8.5). The codes are identical to the Python
// implementation (server/crypto/errors.py); the interop tests compare them. There is no "soft"
// failure anywhere: every failed check throws one of these.

export class CryptoError extends Error {
  constructor(message, code = "crypto_error") {
    super(message);
    this.name = "CryptoError";
    this.code = code;
  }
}

function errorClass(name, code, Base = CryptoError) {
  const cls = class extends Base {
    constructor(message = code) {
      super(message);
      this.name = name;
      this.code = code;
    }
  };
  Object.defineProperty(cls, "name", { value: name });
  cls.code = code;
  return cls;
}

export const InvalidInput = errorClass("InvalidInput", "invalid_input");
export const WeakKdfParameters = errorClass("WeakKdfParameters", "weak_kdf_params");
export const BadRecoveryCode = errorClass("BadRecoveryCode", "bad_recovery_code");
export const BadKeyBlob = errorClass("BadKeyBlob", "bad_key_blob");
export const MalformedEnvelope = errorClass("MalformedEnvelope", "malformed_envelope");
export const WrongConversation = errorClass("WrongConversation", "wrong_conversation");
export const UnknownEpoch = errorClass("UnknownEpoch", "unknown_epoch");
export const UnknownSender = errorClass("UnknownSender", "unknown_sender");
export const BadSignature = errorClass("BadSignature", "bad_signature");
export const BadCiphertext = errorClass("BadCiphertext", "bad_ciphertext");
export const BadPlaintext = errorClass("BadPlaintext", "bad_plaintext");
export const WrongRecipient = errorClass("WrongRecipient", "wrong_recipient");
export const SiteKeyMismatch = errorClass("SiteKeyMismatch", "site_key_mismatch");
export const CertificateError = errorClass("CertificateError", "bad_certificate");
export const CertificateBadSignature = errorClass(
  "CertificateBadSignature", "certificate_bad_signature", CertificateError);
export const CertificateWrongIssuer = errorClass(
  "CertificateWrongIssuer", "certificate_wrong_issuer", CertificateError);
export const CertificateWrongKind = errorClass(
  "CertificateWrongKind", "certificate_wrong_kind", CertificateError);
export const CertificateWrongSubject = errorClass(
  "CertificateWrongSubject", "certificate_wrong_subject", CertificateError);
export const CertificateExpired = errorClass(
  "CertificateExpired", "certificate_expired", CertificateError);
export const CertificateNotYetValid = errorClass(
  "CertificateNotYetValid", "certificate_not_yet_valid", CertificateError);
