// One readable sentence for any error of the account flows. Server errors arrive translated;
// errors of the protocol code (src/crypto) carry a stable `code` and are translated here.

import { t } from "../i18n/i18n.js";
import { ApiError } from "../net/api.js";

export function describeError(error) {
  if (error instanceof ApiError) return error.message;
  if (error && error.name === "FlowError") return error.message;
  switch (error && error.code) {
    case "bad_recovery_code":
      return t("This recovery code is not complete or has a typo. Please check it: it has 28 letters and digits.");
    case "bad_key_blob":
      return t("Your keys could not be opened with this password or code. Please check it and try again.");
    case "weak_kdf_params":
      return t("The server asked for unsafe settings, so we stopped. Please try again later or contact us.");
    default:
      break;
  }
  if (error && error.name === "NotSupportedError") {
    return t("This browser cannot create the keys for encryption. Please update your browser or use another one.");
  }
  console.error(error);
  return t("Something went wrong. Please try again.");
}
