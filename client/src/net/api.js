// HTTP API client (docs/accounts-api.md): JSON in and out, same-origin cookies only.
// A failure `{ok: false, code, message}` becomes an ApiError whose message is the server's
// already translated text, so views can show it as it is.

import { t } from "../i18n/i18n.js";

export class ApiError extends Error {
  constructor(code, message, status = 0, body = null) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    // State-changing requests must be JSON (the server refuses anything else).
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("network", t("No connection to the server. Please check your internet connection and try again."));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok || !data || data.ok !== true) {
    const code = (data && typeof data.code === "string" && data.code) || `http_${response.status}`;
    const message = (data && typeof data.message === "string" && data.message)
      || t("Something went wrong on our side. Please try again.");
    throw new ApiError(code, message, response.status, data);
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body = {}) => request("POST", path, body),
  del: (path, body) => request("DELETE", path, body === undefined ? {} : body),
};

// Path segments that come from users or URLs (invitation tokens) are always encoded.
export function segment(value) {
  return encodeURIComponent(String(value));
}
