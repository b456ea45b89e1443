"""Middlewares: locale negotiation, security headers, CSRF origin check, errors as JSON."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import ClientConnectionResetError, web

from server.i18n import LOCALE_COOKIE, get_translator, negotiate_locale
from server.keys import CONFIG, LOCALE, METRICS
from server.services.errors import ServiceError, unavailable
from server.storage.db import is_unavailable, log_unavailable
from server.transport.http.auth import require_json

log = logging.getLogger("jmdchat.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def error_response(request: web.Request, error: ServiceError) -> web.Response:
    translator = get_translator(request.get(LOCALE, "de"))
    body: dict[str, object] = {
        "ok": False,
        "code": error.code,
        "message": translator.gettext(error.message, **error.params),
    }
    retry_after = getattr(error, "retry_after", None)  # rate limits (services/rate_limit.py)
    if isinstance(retry_after, int):
        body["retry_after"] = retry_after
    response = web.json_response(body, status=error.status)
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


@web.middleware
async def locale_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    cfg = request.app[CONFIG].i18n
    request[LOCALE] = negotiate_locale(
        request.cookies.get(LOCALE_COOKIE),
        request.headers.get("Accept-Language"),
        cfg.locales,
        cfg.default_locale,
    )
    return await handler(request)


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[CONFIG].limits.max_http_body_bytes
    if request.content_length is not None and request.content_length > limit:
        # Refuse before reading: an oversized body never reaches a handler.
        too_large = web.json_response(
            {"ok": False, "code": "too_large", "message": "request body too large"}, status=413
        )
        too_large.headers.update(SECURITY_HEADERS)
        return too_large
    if request.method in UNSAFE_METHODS and request.path.startswith("/api/"):
        origin = request.headers.get("Origin")
        config = request.app[CONFIG]
        allowed = {*config.server.allowed_origins, config.server.public_url}
        # Browsers always send Origin on cross-site POSTs; a mismatch is a forged request.
        if origin is not None and origin not in allowed:
            response: web.StreamResponse = web.json_response(
                {"ok": False, "code": "bad_origin", "message": "origin not allowed"}, status=403
            )
            response.headers.update(SECURITY_HEADERS)
            return response
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    route = (
        request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    )
    status = 500
    try:
        if request.method in UNSAFE_METHODS and request.path.startswith("/api/"):
            # CSRF, centrally: every state-changing API request is a JSON request, with or
            # without a body. A cross-site form or no-cors fetch cannot send this content type
            # without a CORS preflight, which we never allow; no route can forget the check.
            require_json(request)
        response = await handler(request)
        status = response.status
        return response
    except ServiceError as exc:
        status = exc.status
        request.app[METRICS].error_response("http", exc.code)
        return error_response(request, exc)
    except web.HTTPException as exc:
        status = exc.status
        raise
    except ClientConnectionResetError:
        # The client went away mid-answer (a closed tab, a dropped websocket): nothing to
        # answer and nothing wrong on our side; aiohttp ignores it quietly.
        status = 499
        raise
    except Exception as exc:
        if is_unavailable(exc):  # database down or restarting: 503, no traceback
            status = 503
            log_unavailable(f"http:{route}", exc)  # rate limited: an outage is one line
            return error_response(request, unavailable())
        request.app[METRICS].errors.labels(where="http").inc()
        log.exception("unhandled error", extra={"route": route, "method": request.method})
        translator = get_translator(request.get(LOCALE, "de"))
        return web.json_response(
            {
                "ok": False,
                "code": "internal",
                "message": translator.gettext(
                    "Something went wrong on our side. Please try again."
                ),
            },
            status=500,
        )
    finally:
        metrics = request.app[METRICS]
        metrics.http_requests.labels(route=route, status=str(status)).inc()
        metrics.http_latency.labels(route=route).observe(time.perf_counter() - started)
