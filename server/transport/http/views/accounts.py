"""HTTP API of accounts, sessions, invitations, two-factor and site keys (docs/accounts-api.md).

Every body is a strict pydantic model: unknown fields are refused, nothing is coerced, and byte
fields are strict base64url (no padding) of exactly the length the protocol fixes (keys 32,
salts 16, key blobs 132, sealed site key boxes 160 bytes). Answers with anything secret-ish
(key blobs, tokens) are marked `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.errors import InvalidInput
from server.crypto.keys import BLOB_LEN, MAX_PBKDF2_ITERATIONS
from server.i18n import lazy_gettext as _
from server.keys import ABUSE, CLOCK, CONFIG, EMITTER
from server.services.accounts import NewIdentity, NewPassword
from server.services.errors import NotFound
from server.services.key_freshness import keys_changed
from server.services.site_keys import SITE_KEY_BOX_LEN, org_public_key_b64
from server.storage.models.accounts import SCOPE_TOTP_SETUP
from server.transport.http.auth import (
    accounts_service,
    authenticate,
    clear_session_cookie,
    require_account,
    require_json,
    set_session_cookie,
    site_keys_service,
    source_of,
)
from server.transport.http.validation import parse_body
from server.transport.socket.conversations import emit_notices
from server.transport.socket.main_namespace import close_sessions

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}


# --- body models ------------------------------------------------------------------------------


def _b64(length: int) -> BeforeValidator:
    """A base64url field that decodes to exactly `length` bytes (as `bytes`)."""

    def parse(value: object) -> bytes:
        if not isinstance(value, str) or len(value) > (length * 4 + 2) // 3:
            raise ValueError("expected base64url")
        try:
            return b64url_decode(value, length=length)
        except InvalidInput:
            raise ValueError("expected base64url") from None

    return BeforeValidator(parse)


Key32 = Annotated[bytes, _b64(32)]
Salt = Annotated[bytes, _b64(16)]
KeyBlob = Annotated[bytes, _b64(BLOB_LEN)]
SiteKeyBox = Annotated[bytes, _b64(SITE_KEY_BOX_LEN)]
Iterations = Annotated[int, Field(ge=1, le=MAX_PBKDF2_ITERATIONS)]
# Bounds only; the nickname rules are applied by the service, with their own message.
Nickname = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Locale = Annotated[str, StringConstraints(min_length=2, max_length=8)]
TotpCode = Annotated[str, StringConstraints(min_length=1, max_length=12)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AgeGroup = Literal["12-14", "15-17", "18-21", "22-27"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PreloginBody(Body):
    nickname: Nickname


class PasswordFields(Body):
    salt: Salt
    iterations: Iterations
    auth_key: Key32
    key_blob: KeyBlob

    def new_password(self) -> NewPassword:
        return NewPassword(self.salt, self.iterations, self.auth_key, self.key_blob)


class IdentityFields(PasswordFields):
    nickname: Nickname
    recovery_blob: KeyBlob
    recovery_auth_key: Key32
    x25519_public: Key32
    ed25519_public: Key32
    locale: Locale


class RegisterBody(IdentityFields):
    age_group: AgeGroup | None = None

    def identity(self) -> NewIdentity:
        return NewIdentity(
            nickname=self.nickname, password=self.new_password(),
            recovery_blob=self.recovery_blob, recovery_auth_key=self.recovery_auth_key,
            x25519_public=self.x25519_public, ed25519_public=self.ed25519_public,
            locale=self.locale, age_group=self.age_group,
        )


class AcceptBody(IdentityFields):
    display_name: Annotated[str, StringConstraints(max_length=64)] = ""

    def identity(self) -> NewIdentity:
        return NewIdentity(
            nickname=self.nickname, password=self.new_password(),
            recovery_blob=self.recovery_blob, recovery_auth_key=self.recovery_auth_key,
            x25519_public=self.x25519_public, ed25519_public=self.ed25519_public,
            locale=self.locale, display_name=self.display_name,
        )


class LoginBody(Body):
    nickname: Nickname
    auth_key: Key32
    totp_code: TotpCode | None = None


class ChangePasswordBody(PasswordFields):
    current_auth_key: Key32


class RecoveryStartBody(Body):
    nickname: Nickname
    recovery_auth_key: Key32
    # Staff only (docs/accounts-api.md: as at login, `totp_required` asks for it).
    totp_code: TotpCode | None = None


class RecoveryFinishBody(PasswordFields):
    recovery_token: Token


class RecoveryRenewBody(Body):
    current_auth_key: Key32
    recovery_blob: KeyBlob
    recovery_auth_key: Key32


class DeleteBody(Body):
    auth_key: Key32


class TotpConfirmBody(Body):
    code: TotpCode


class SealBody(Body):
    account_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    sealed: SiteKeyBox


class NewSiteKeyBody(Body):
    x25519_public: Key32
    ed25519_public: Key32
    sealed: SiteKeyBox


def _code(value: str | None) -> str | None:
    """Authenticator apps show "123 456"; people type it like that."""
    return value.replace(" ", "") if value else value


async def _end_sockets(request: web.Request, session_ids: list[str]) -> None:
    if session_ids:
        await close_sessions(request.app[EMITTER], session_ids)


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"ok": True, **data}, status=status, headers=NO_STORE)


# --- login, registration ----------------------------------------------------------------------


@routes.post("/api/auth/prelogin")
async def prelogin(request: web.Request) -> web.Response:
    body = await parse_body(request, PreloginBody)
    salt, iterations = await accounts_service(request).prelogin(body.nickname)
    return _json({"salt": b64url_encode(salt), "iterations": iterations})


@routes.post("/api/auth/register")
async def register(request: web.Request) -> web.Response:
    body = await parse_body(request, RegisterBody)
    # Abuse limit: registrations per source per hour ([rate_limits], 429 + Retry-After).
    request.app[ABUSE].registration(source_of(request), request.app[CLOCK].now())
    result = await accounts_service(request).register(body.identity(), source_of(request))
    response = _json({"account": result.account}, status=201)
    set_session_cookie(response, request, result.session)
    return response


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    result = await accounts_service(request).login(
        body.nickname, body.auth_key, _code(body.totp_code), source_of(request)
    )
    response = _json({"account": result.account, "key_blob": b64url_encode(result.key_blob)})
    set_session_cookie(response, request, result.session)
    return response


@routes.post("/api/auth/logout")
async def logout(request: web.Request) -> web.Response:
    require_json(request)
    ended: list[str] = []
    for scope in ("full", SCOPE_TOTP_SETUP):
        context = await authenticate(request, scope)
        if context is not None:
            ended += await accounts_service(request).logout(context)
    await _end_sockets(request, ended)
    response = _json({})
    clear_session_cookie(response, request)
    return response


@routes.get("/api/auth/me")
async def me(request: web.Request) -> web.Response:
    context = await require_account(request)
    return _json({"account": await accounts_service(request).me(context)})


# --- password, recovery, deletion -------------------------------------------------------------


@routes.post("/api/auth/password")
async def change_password(request: web.Request) -> web.Response:
    context = await require_account(request)
    body = await parse_body(request, ChangePasswordBody)
    ended = await accounts_service(request).change_password(
        context, body.current_auth_key, body.new_password(), source_of(request)
    )
    await _end_sockets(request, ended)
    return _json({})


@routes.post("/api/auth/recovery/start")
async def recovery_start(request: web.Request) -> web.Response:
    body = await parse_body(request, RecoveryStartBody)
    token, blob = await accounts_service(request).recovery_start(
        body.nickname, body.recovery_auth_key, _code(body.totp_code), source_of(request)
    )
    return _json({"recovery_token": token, "recovery_blob": b64url_encode(blob)})


@routes.post("/api/auth/recovery/finish")
async def recovery_finish(request: web.Request) -> web.Response:
    body = await parse_body(request, RecoveryFinishBody)
    result = await accounts_service(request).recovery_finish(
        body.recovery_token, body.new_password()
    )
    await _end_sockets(request, result.ended_session_ids)
    response = _json({"account": result.account})
    set_session_cookie(response, request, result.session)
    return response


@routes.post("/api/auth/recovery/renew")
async def recovery_renew(request: web.Request) -> web.Response:
    """A new recovery code for the logged-in account (session + current password)."""
    context = await require_account(request)
    body = await parse_body(request, RecoveryRenewBody)
    await accounts_service(request).renew_recovery(
        context, body.current_auth_key, body.recovery_auth_key, body.recovery_blob,
        source_of(request),
    )
    return _json({})


@routes.delete("/api/account")
async def delete_account(request: web.Request) -> web.Response:
    context = await require_account(request)
    body = await parse_body(request, DeleteBody)
    ended = await accounts_service(request).delete_account(
        context, body.auth_key, source_of(request)
    )
    await _end_sockets(request, ended)
    response = _json({})
    clear_session_cookie(response, request)
    return response


# --- invitations, two-factor ------------------------------------------------------------------


@routes.get("/api/invitations/{token}")
async def invitation(request: web.Request) -> web.Response:
    info = await accounts_service(request).invitation_info(request.match_info["token"])
    return _json(info)


@routes.post("/api/invitations/{token}/accept")
async def accept_invitation(request: web.Request) -> web.Response:
    body = await parse_body(request, AcceptBody)
    result = await accounts_service(request).accept_invitation(
        request.match_info["token"], body.identity()
    )
    response = _json(
        {"account": result.account, "totp_secret": result.totp_secret,
         "otpauth_uri": result.otpauth_uri}
    )
    set_session_cookie(response, request, result.session)
    return response


@routes.post("/api/auth/totp/confirm")
async def confirm_totp(request: web.Request) -> web.Response:
    context = await require_account(request, SCOPE_TOTP_SETUP)
    body = await parse_body(request, TotpConfirmBody)
    result = await accounts_service(request).confirm_totp(
        context, _code(body.code) or "", source_of(request)
    )
    await _end_sockets(request, result.ended_session_ids)
    response = _json({"account": result.account})
    set_session_cookie(response, request, result.session)
    return response


# --- keys -------------------------------------------------------------------------------------


@routes.get("/api/keys/org")
async def org_key(request: web.Request) -> web.Response:
    key = org_public_key_b64(request.app[CONFIG])
    if key is None:
        raise NotFound(
            "org_key_missing",
            _("The organisation key is not set up yet. Please ask the administrator."),
        )
    return _json({"public_key": key})


@routes.get("/api/sites/{site_id}/keys")
async def site_keys(request: web.Request) -> web.Response:
    context = await require_account(request)
    keys = await site_keys_service(request).list_keys(context, request.match_info["site_id"])
    return _json({"keys": keys})


@routes.post("/api/sites/{site_id}/keys")
async def create_site_key(request: web.Request) -> web.Response:
    """Not in the first contract: a site lead's client registers a new site key version."""
    context = await require_account(request)
    body = await parse_body(request, NewSiteKeyBody)
    version = await site_keys_service(request).create_version(
        context, request.match_info["site_id"], body.x25519_public, body.ed25519_public,
        body.sealed,
    )
    # Issue #3: open browsers of the team drop their cached site keys (after the commit).
    await emit_notices(request.app[EMITTER], [keys_changed(request.match_info["site_id"], version)])
    return _json({"version": version}, status=201)


@routes.post("/api/sites/{site_id}/keys/seal")
async def seal_site_key(request: web.Request) -> web.Response:
    context = await require_account(request)
    body = await parse_body(request, SealBody)
    await site_keys_service(request).seal(
        context, request.match_info["site_id"], body.account_id, body.version, body.sealed
    )
    await emit_notices(request.app[EMITTER], [keys_changed(request.match_info["site_id"],
                                                           body.version)])
    return _json({})


@routes.get("/api/me/site-keys")
async def my_site_keys(request: web.Request) -> web.Response:
    context = await require_account(request)
    return _json({"sealed": await site_keys_service(request).my_sealed(context)})


@routes.get("/api/me/certificate")
async def my_certificate(request: web.Request) -> web.Response:
    context = await require_account(request)
    return _json({"certificate": await site_keys_service(request).my_certificate(context)})
