"""HTTP authentication: request -> `AccountContext`, and the session cookie.

The session cookie `jmdchat_session` holds an opaque random token (only its SHA-256 is stored).
It is HttpOnly (scripts cannot read it, so an injected script cannot carry it away),
SameSite=Strict (never sent with requests started by other sites: with the Origin check of
the security middleware and JSON-only bodies this is the CSRF defence), Secure when the public
URL is https, Path=/.
"""

from __future__ import annotations

from aiohttp import web

from server.i18n import lazy_gettext as _
from server.keys import CLOCK, CONFIG, LIMITER, SESSIONS
from server.services.access import AccountContext
from server.services.accounts import Accounts
from server.services.errors import ServiceError, unauthorized
from server.services.sessions import IssuedSession, resolve_session
from server.services.site_keys import SiteKeys
from server.storage.models.accounts import SCOPE_FULL
from server.transport.http.client_address import client_address

SESSION_COOKIE = "jmdchat_session"


class _Contexts(dict[str, AccountContext | None]):
    """Per request: the authenticated account by session scope (looked up once)."""


_CONTEXTS = web.RequestKey("account_contexts", _Contexts)


def source_of(request: web.Request) -> str:
    """The client's address for the in-memory per-source limit. Used only as a key of a keyed
    hash in memory (server/services/rate_limit.py); never logged, never stored.

    Behind a reverse proxy listed in `[server] trusted_proxies` this is the address the proxy
    forwarded (`X-Forwarded-For`, rightmost untrusted hop: server/transport/http/
    client_address.py); otherwise the direct peer. The per-nickname limit (in the database)
    works regardless.
    """
    return client_address(request)


def accounts_service(request: web.Request) -> Accounts:
    app = request.app
    return Accounts(app[SESSIONS], app[CONFIG], app[CLOCK], app[LIMITER])


def site_keys_service(request: web.Request) -> SiteKeys:
    app = request.app
    return SiteKeys(app[SESSIONS], app[CONFIG], app[CLOCK])


async def authenticate(request: web.Request, scope: str = SCOPE_FULL) -> AccountContext | None:
    """The account of the request's session cookie (a live session of `scope`), or None."""
    contexts = request.get(_CONTEXTS)
    if contexts is None:
        contexts = request[_CONTEXTS] = _Contexts()
    if scope not in contexts:
        contexts[scope] = await resolve_session(
            request.app[SESSIONS], request.cookies.get(SESSION_COOKIE),
            request.app[CLOCK].now(), scope,
        )
    return contexts[scope]


async def require_account(request: web.Request, scope: str = SCOPE_FULL) -> AccountContext:
    """Like `authenticate`, but a missing or expired session is a 401 `unauthorized`."""
    context = await authenticate(request, scope)
    if context is None:
        raise unauthorized()
    return context


def require_json(request: web.Request) -> None:
    """State-changing requests without a body still have to be JSON requests: browsers cannot
    send `Content-Type: application/json` cross-site without a CORS preflight we never allow."""
    if request.content_type != "application/json":
        raise ServiceError("bad_content_type", _("Please send the data as JSON."))


def _cookie_secure(request: web.Request) -> bool:
    return request.app[CONFIG].cookie_secure


def set_session_cookie(response: web.StreamResponse, request: web.Request,
                       issued: IssuedSession) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=issued.max_age_seconds,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_cookie_secure(request),
    )


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="Strict",
        secure=_cookie_secure(request),
    )
