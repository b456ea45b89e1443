"""The authorization matrix (issue #8): every HTTP endpoint and every socket.io event, for every
role, against a real server on a real port with real accounts (tests/security_support.py).

Roles: anonymous, young person A, young person B, counsellor of site X, counsellor of site Y,
site lead of X, admin, a deleted account (its cookie kept after deletion), an expired session
(young person A's first session; the `FrozenClock` moved past the session lifetime).
Objects: young person A's conversation at site X, claimed by the counsellor of X (fresh for
every cell, so cells do not depend on each other), a waiting enquiry of A at X, a canned
response of X.

The tables below ARE the specification: one dict per endpoint / event, role → expected answer.
`test_every_http_route_has_a_row` and `test_every_socket_event_has_a_row` enumerate the app's
routes and the main namespace's `on_*` handlers at test time: a new endpoint or event without a
row fails the build until somebody decided who may use it.

Refusals that concern an object must not reveal whether it exists: every `not_found` answer of
an event is compared with the answer for the same request about a random, non-existent id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from server.app import create_app
from server.crypto import primitives as prim
from server.crypto.keys import generate_identity
from server.crypto.sites import seal_site_key
from server.transport.socket.main_namespace import MainNamespace
from server.transport.socket.namespace import _NOT_EVENTS, _is_event_handler, handler_name
from tests.account_material import b64
from tests.conftest import make_config
from tests.conversation_support import Client, Conv, enquiry_payload
from tests.security_support import (
    LIVE_ROLES,
    NO_SESSION_ROLES,
    ROLES,
    SLUG_X,
    Response,
    SecurityWorld,
    fresh_identity_fields,
    random_id,
    security_world,
    sqlite_copy,
    unique,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[SecurityWorld]:
    url = sqlite_copy(sqlite_template, tmp_path_factory.mktemp("authz") / "authz.db")
    async with security_world(url) as built:
        yield built


# =============================================================================================
# Expected answers
# =============================================================================================


@dataclass(frozen=True)
class Http:
    """An HTTP answer: the status and, for errors, the `code` of the JSON body."""

    status: int
    code: str | None = None


@dataclass(frozen=True)
class Ack:
    """A socket.io ack: `code` None means `{ok: true}`; `sees` (for lists): whether the
    object of the cell appears in the answer."""

    code: str | None = None
    sees: bool | None = None


def row(default: Any, **roles: Any) -> dict[str, Any]:
    """One row of a table: the expected answer of every role (`default` unless named)."""
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown
    return {role: roles.get(role, default) for role in ROLES}


OK, CREATED = Http(200), Http(201)
UNAUTH = Http(401, "unauthorized")
FORBIDDEN = Http(403, "forbidden")
NO_SESSION = {role: UNAUTH for role in NO_SESSION_ROLES}
CONNECTS, REFUSED = Http(101), Http(403, "connection_refused")  # GET /socket.io/ (websocket)

HTTP_MATRIX: dict[str, dict[str, Http]] = {
    # --- public pages and data (no session needed; the same for everybody) -----------------
    "GET /": row(OK),
    "GET /i18n/{locale}.json": row(OK),
    "GET /healthz": row(OK),
    "GET /metrics": row(OK),  # operational; see docs/security.md (restrict at the proxy)
    "GET /api/sites": row(OK),
    "GET /api/sites/languages": row(OK),
    "GET /api/sites/nearest": row(OK),
    "GET /api/sites/{slug}": row(OK),
    "GET /api/topics": row(OK),
    "GET /api/geo/lookup": row(OK),
    "GET /api/route": row(OK),
    "GET /api/keys/org": row(OK),
    "GET /api/invitations/{token}": row(OK),
    # --- authentication: public by nature ------------------------------------------------------
    "POST /api/auth/prelogin": row(OK),
    "POST /api/auth/register": row(CREATED),
    "POST /api/auth/login": row(OK),  # young person B logs in (whatever cookie is sent along)
    "POST /api/auth/logout": row(OK),  # a throw-away session of the role; it is dead afterwards
    "POST /api/auth/recovery/start": row(Http(401, "recovery_failed")),  # wrong recovery key
    "POST /api/auth/recovery/finish": row(Http(401, "recovery_expired")),  # unknown token
    "POST /api/invitations/{token}/accept": row(OK),  # a fresh invitation per cell
    # Only a TOTP-setup session (right after accepting an invitation) may confirm; a full
    # session of any role may not.
    "POST /api/auth/totp/confirm": row(UNAUTH),
    # --- the own account (a full session) ------------------------------------------------------
    "GET /api/auth/me": row(OK, **NO_SESSION),
    # Re-authentication with a wrong current key: reaching the password check is "allowed".
    "POST /api/auth/password": row(Http(403, "wrong_password"), **NO_SESSION),
    "DELETE /api/account": row(Http(403, "wrong_password"), **NO_SESSION),
    # A new recovery code: the session and then the current password (wrong here).
    "POST /api/auth/recovery/renew": row(Http(403, "wrong_password"), **NO_SESSION),
    # --- site keys (site X) ----------------------------------------------------------------------
    "GET /api/sites/{site_id}/keys": row(
        OK, counsellor_y=Http(403, "not_member"), **NO_SESSION
    ),
    "POST /api/sites/{site_id}/keys": row(
        FORBIDDEN, lead_x=CREATED, counsellor_x=Http(403, "not_lead"),
        counsellor_y=Http(403, "not_member"), **NO_SESSION,
    ),
    "POST /api/sites/{site_id}/keys/seal": row(
        FORBIDDEN, counsellor_x=OK, lead_x=OK, counsellor_y=Http(403, "not_member"),
        **NO_SESSION,
    ),
    "GET /api/me/site-keys": row(
        FORBIDDEN, counsellor_x=OK, counsellor_y=OK, lead_x=OK, **NO_SESSION
    ),
    "GET /api/me/certificate": row(
        FORBIDDEN, counsellor_x=OK, counsellor_y=OK, lead_x=OK, **NO_SESSION
    ),
    # --- admin screens (issues #4, #9): sites, topics, retention, audit trail ---------------------
    # Site leads: their own sites (site X) and their sites' audit events; admins: everything.
    "GET /api/admin/sites": row(FORBIDDEN, lead_x=OK, admin=OK, **NO_SESSION),
    "POST /api/admin/sites": row(FORBIDDEN, admin=CREATED, **NO_SESSION),
    "POST /api/admin/sites/{site_id}": row(FORBIDDEN, lead_x=OK, admin=OK, **NO_SESSION),
    "POST /api/admin/sites/import": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "GET /api/admin/sites/export.csv": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "GET /api/admin/sites/export.json": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "GET /api/admin/topics": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "POST /api/admin/topics/{key}": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "GET /api/admin/retention": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "POST /api/admin/retention": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "GET /api/admin/audit": row(FORBIDDEN, lead_x=OK, admin=OK, **NO_SESSION),
    # --- socket.io (engine.io endpoint) ----------------------------------------------------------
    # --- chat rounds (issue #9): young people and counsellors list; counsellors of the site
    # schedule (admins and site-less roles are refused).
    "GET /api/rounds": row(OK, admin=FORBIDDEN, **NO_SESSION),
    "POST /api/rounds": row(
        FORBIDDEN, counsellor_x=CREATED, lead_x=CREATED, counsellor_y=Http(403, "not_member"),
        **NO_SESSION,
    ),
    "GET /socket.io/": row(CONNECTS, **{r: REFUSED for r in NO_SESSION_ROLES}),
    "POST /socket.io/": row(Http(400)),  # long-polling is switched off: websocket only
    "OPTIONS /socket.io/": row(Http(400)),
}

NF, FB = Ack("not_found"), Ack("forbidden")
NO_CONNECTION = Ack("connection_refused")
REFUSED_SOCKET = {role: NO_CONNECTION for role in NO_SESSION_ROLES}


def event_row(default: Ack, **roles: Ack) -> dict[str, Ack]:
    return row(default, **{**REFUSED_SOCKET, **roles})


# Who may work with young person A's conversation at site X (claimed by the counsellor of X):
# A and the site's counsellors; everybody else gets the same `not_found` as for an unknown id.
CONVERSATION_READERS = {"young_a": Ack(), "counsellor_x": Ack(), "lead_x": Ack()}
SITE_COUNSELLORS_ONLY = {"counsellor_x": Ack(), "lead_x": Ack(), "counsellor_y": NF}

EVENT_MATRIX: dict[str, dict[str, Ack]] = {
    "server_info": event_row(Ack()),
    "conversation.list": event_row(
        Ack(sees=False), young_a=Ack(sees=True), counsellor_x=Ack(sees=True),
        lead_x=Ack(sees=True),
    ),
    "conversation.join": event_row(NF, **CONVERSATION_READERS),
    "conversation.leave": event_row(Ack()),  # leaving a room is always harmless
    # The colleague rule (docs/security.md, access.py `ConversationAccess.can`): the site lead
    # works in the site but did not take the conversation: reads it, may close it (and
    # reassign, handover rows), marks it urgent; does not write or type into it. A plain
    # colleague (not the lead) is refused `close` as well: tests/transport/test_colleague_rule.py.
    "message.send": event_row(NF, **{**CONVERSATION_READERS, "lead_x": Ack("not_claimed")}),
    "message.history": event_row(NF, **CONVERSATION_READERS),
    "message.read": event_row(NF, **CONVERSATION_READERS),
    "typing": event_row(NF, **{**CONVERSATION_READERS, "lead_x": Ack("not_holder")}),
    "conversation.close": event_row(NF, **CONVERSATION_READERS),
    "note.add": event_row(NF, counsellor_x=Ack(), lead_x=Ack()),
    "note.list": event_row(NF, counsellor_x=Ack(), lead_x=Ack()),
    "absence.set": event_row(FB, counsellor_x=Ack(), counsellor_y=Ack(), lead_x=Ack()),
    "canned.list": event_row(
        FB, counsellor_x=Ack(sees=True), lead_x=Ack(sees=True), counsellor_y=Ack(sees=False)
    ),
    "canned.save": event_row(FB, **SITE_COUNSELLORS_ONLY),
    "canned.delete": event_row(FB, **SITE_COUNSELLORS_ONLY),
    "enquiry.create": event_row(FB, young_a=Ack(), young_b=Ack()),
    "queue.list": event_row(
        FB, counsellor_x=Ack(sees=True), lead_x=Ack(sees=True), counsellor_y=NF
    ),
    "conversation.claim": event_row(FB, **SITE_COUNSELLORS_ONLY),
    "conversation.urgent": event_row(FB, **SITE_COUNSELLORS_ONLY),
    # Chat rounds (issue #9): a round of site X that young person A joined (waiting for a key).
    # Young people may join any round; counsellors of X moderate; others see nothing.
    "round.join": event_row(NF, young_a=Ack(), young_b=Ack(), counsellor_x=Ack(),
                            lead_x=Ack()),
    "round.leave": event_row(NF, young_a=Ack()),
    "round.send": event_row(NF, young_a=Ack("not_admitted")),
    "round.rekey": event_row(NF, counsellor_x=Ack("not_participant"),
                             lead_x=Ack("not_participant")),
    "round.mute": event_row(NF, counsellor_x=Ack(), lead_x=Ack()),
    "round.remove": event_row(NF, counsellor_x=Ack(), lead_x=Ack()),
}


# =============================================================================================
# Requests
# =============================================================================================


Check = Callable[[SecurityWorld, str, Response], Awaitable[None]]


@dataclass
class Req:
    method: str
    path: str
    json: Any = None
    token: str | None = None  # the role's own session unless `own_session` is False
    own_session: bool = True
    after: Check | None = None  # runs after an allowed answer


def _get(path: str, after: Check | None = None) -> Callable[[SecurityWorld, str],
                                                            Awaitable[Req]]:
    async def build(world: SecurityWorld, role: str) -> Req:
        return Req("GET", path.format(x=world.site_x, slug=SLUG_X,
                                      invitation=world.invitation_token), after=after)
    return build


async def _me_is_me(world: SecurityWorld, role: str, response: Response) -> None:
    assert response.body["account"]["id"] == world.actors[role].account_id


async def _register(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/auth/register",
               {**fresh_identity_fields(unique("reg")), "age_group": None})


async def _login(world: SecurityWorld, role: str) -> Req:
    young_b = world.actors["young_b"]
    assert young_b.material is not None

    async def logged_in_as_b(world: SecurityWorld, role: str, response: Response) -> None:
        assert response.body["account"]["id"] == young_b.account_id

    return Req("POST", "/api/auth/login",
               {"nickname": young_b.nickname, "auth_key": b64(young_b.material.auth_key)},
               after=logged_in_as_b)


async def _logout(world: SecurityWorld, role: str) -> Req:
    if role not in LIVE_ROLES:  # the role's (dead) cookie
        return Req("POST", "/api/auth/logout", {})
    throwaway = await world.extra_session(role)

    async def session_ended(world: SecurityWorld, role: str, response: Response) -> None:
        gone = await world.request("GET", "/api/auth/me", token=throwaway)
        assert gone.status == 401, "the session must be dead after logout"
        still = await world.request("GET", "/api/auth/me", role=role)
        assert still.status == 200, "logging out one session must not end the others"

    return Req("POST", "/api/auth/logout", {}, token=throwaway, own_session=False,
               after=session_ended)


async def _prelogin(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/auth/prelogin", {"nickname": world.actors["young_a"].nickname})


async def _password(world: SecurityWorld, role: str) -> Req:
    fields = fresh_identity_fields("unused")
    return Req("POST", "/api/auth/password", {
        "current_auth_key": b64(prim.random_bytes(32)),
        **{k: fields[k] for k in ("salt", "iterations", "auth_key", "key_blob")},
    })


async def _delete(world: SecurityWorld, role: str) -> Req:
    return Req("DELETE", "/api/account", {"auth_key": b64(prim.random_bytes(32))})


async def _recovery_start(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/auth/recovery/start", {
        "nickname": world.actors["young_b"].nickname,
        "recovery_auth_key": b64(prim.random_bytes(32)),
    })


async def _recovery_finish(world: SecurityWorld, role: str) -> Req:
    fields = fresh_identity_fields("unused")
    return Req("POST", "/api/auth/recovery/finish", {
        "recovery_token": "A" * 43,
        **{k: fields[k] for k in ("salt", "iterations", "auth_key", "key_blob")},
    })


async def _recovery_renew(world: SecurityWorld, role: str) -> Req:
    blob = b"\x01" + prim.random_bytes(131)  # well-formed (version 1, 132 bytes)
    return Req("POST", "/api/auth/recovery/renew", {
        "current_auth_key": b64(prim.random_bytes(32)),
        "recovery_blob": b64(blob),
        "recovery_auth_key": b64(prim.random_bytes(32)),
    })


async def _accept(world: SecurityWorld, role: str) -> Req:
    invitation = await world.accounts().create_invitation("counsellor", SLUG_X, "Neu")
    fields = fresh_identity_fields(unique("staff"))
    return Req("POST", f"/api/invitations/{invitation.token}/accept",
               {**fields, "display_name": "Neu"})


async def _totp_confirm(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/auth/totp/confirm", {"code": "123456"})


async def _new_site_key(world: SecurityWorld, role: str) -> Req:
    identity = generate_identity()
    return Req("POST", f"/api/sites/{world.site_x}/keys", {
        "x25519_public": b64(identity.x25519_public),
        "ed25519_public": b64(identity.ed25519_public),
        # The lead's browser seals the new site key to the lead (here: any well-formed box).
        "sealed": b64(seal_site_key(world.key_x, identity.x25519_public)),
    })


async def _seal(world: SecurityWorld, role: str) -> Req:
    target = world.actors["counsellor_x"]
    assert target.material is not None
    return Req("POST", f"/api/sites/{world.site_x}/keys/seal", {
        "account_id": target.account_id, "version": 1,
        "sealed": b64(seal_site_key(world.key_x, target.material.identity.x25519_public)),
    })


async def _no_site_x_keys_for_y(world: SecurityWorld, role: str, response: Response) -> None:
    sites = {item["site_id"] for item in response.body["sealed"]}
    mine = {"counsellor_x": {world.site_x}, "lead_x": {world.site_x},
            "counsellor_y": {world.site_y}}[role]
    assert sites == mine, "a counsellor gets the sealed keys of their own sites only"


async def _schedule_round(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/rounds", {
        "site_id": world.site_x, "topic": "Ausbildung finden", "language": "ar",
        "starts_at": world.clock.now().isoformat(), "duration_minutes": 60,
        "max_participants": 5,
    })


async def _admin_new_site(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/admin/sites", {
        "slug": f"sec-new-{random_id()[:8]}", "name": "Neu", "postcode": "54290",
        "languages": "de"})


async def _admin_edit_site(world: SecurityWorld, role: str) -> Req:
    return Req("POST", f"/api/admin/sites/{world.site_x}", {"phone": "+49 30 1234"})


async def _admin_import(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/admin/sites/import", {
        "format": "csv", "content": f"slug,phone\n{SLUG_X},+49 30 1234\n", "dry_run": True})


async def _admin_topic(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/admin/topics/leisure_neighbourhood", {"active": True})


async def _admin_retention(world: SecurityWorld, role: str) -> Req:
    return Req("POST", "/api/admin/retention", {"audit_days": 730})


async def _lead_sees_only_site_x(world: SecurityWorld, role: str, response: Response) -> None:
    if role == "lead_x":
        assert {s["id"] for s in response.body["sites"]} == {world.site_x}


async def _lead_sees_only_site_x_events(world: SecurityWorld, role: str, response: Response
                                        ) -> None:
    if role == "lead_x":
        assert {e["site_id"] for e in response.body["events"]} <= {world.site_x}


HTTP_REQUESTS: dict[str, Callable[[SecurityWorld, str], Awaitable[Req]]] = {
    "GET /": _get("/"),
    "GET /i18n/{locale}.json": _get("/i18n/de.json"),
    "GET /healthz": _get("/healthz"),
    "GET /metrics": _get("/metrics"),
    "GET /api/sites": _get("/api/sites"),
    "GET /api/sites/languages": _get("/api/sites/languages"),
    "GET /api/sites/nearest": _get("/api/sites/nearest?q=54290"),
    "GET /api/sites/{slug}": _get("/api/sites/{slug}"),
    "GET /api/topics": _get("/api/topics"),
    "GET /api/geo/lookup": _get("/api/geo/lookup?q=54290"),
    "GET /api/route": _get("/api/route?language=de&topic=school"),
    "GET /api/keys/org": _get("/api/keys/org"),
    "GET /api/invitations/{token}": _get("/api/invitations/{invitation}"),
    "POST /api/auth/prelogin": _prelogin,
    "POST /api/auth/register": _register,
    "POST /api/auth/login": _login,
    "POST /api/auth/logout": _logout,
    "POST /api/auth/recovery/start": _recovery_start,
    "POST /api/auth/recovery/finish": _recovery_finish,
    "POST /api/auth/recovery/renew": _recovery_renew,
    "POST /api/invitations/{token}/accept": _accept,
    "POST /api/auth/totp/confirm": _totp_confirm,
    "GET /api/auth/me": _get("/api/auth/me", after=_me_is_me),
    "POST /api/auth/password": _password,
    "DELETE /api/account": _delete,
    "GET /api/sites/{site_id}/keys": _get("/api/sites/{x}/keys"),
    "POST /api/sites/{site_id}/keys": _new_site_key,
    "POST /api/sites/{site_id}/keys/seal": _seal,
    "GET /api/me/site-keys": _get("/api/me/site-keys", after=_no_site_x_keys_for_y),
    "GET /api/me/certificate": _get("/api/me/certificate"),
    "GET /api/admin/sites": _get("/api/admin/sites", after=_lead_sees_only_site_x),
    "POST /api/admin/sites": _admin_new_site,
    "POST /api/admin/sites/{site_id}": _admin_edit_site,
    "POST /api/admin/sites/import": _admin_import,
    "GET /api/admin/sites/export.csv": _get("/api/admin/sites/export.csv"),
    "GET /api/admin/sites/export.json": _get("/api/admin/sites/export.json"),
    "GET /api/admin/topics": _get("/api/admin/topics"),
    "POST /api/admin/topics/{key}": _admin_topic,
    "GET /api/admin/retention": _get("/api/admin/retention"),
    "POST /api/admin/retention": _admin_retention,
    "GET /api/admin/audit": _get("/api/admin/audit", after=_lead_sees_only_site_x_events),
    "GET /api/rounds": _get("/api/rounds?all=1"),
    "POST /api/rounds": _schedule_round,
}
SOCKET_IO_ROUTES = {"GET /socket.io/", "POST /socket.io/", "OPTIONS /socket.io/"}


# --- statistics (issue #9): site leads see the sites they lead, admins every site -----------
async def _statistics_scope(world: SecurityWorld, role: str, response: Response) -> None:
    scope = response.body["scope"]
    if role == "lead_x":
        assert (scope["all_sites"], [s["slug"] for s in scope["sites"]]) == (False, [SLUG_X])
    else:
        assert scope["all_sites"] is True


HTTP_MATRIX.update({
    "GET /api/statistics": row(FORBIDDEN, lead_x=OK, admin=OK, **NO_SESSION),
    "GET /api/statistics.csv": row(FORBIDDEN, lead_x=OK, admin=OK, **NO_SESSION),
})
HTTP_REQUESTS.update({
    "GET /api/statistics": _get("/api/statistics", after=_statistics_scope),
    "GET /api/statistics.csv": _get("/api/statistics.csv"),
})


# --- team management (issues #3, #9): site leads for their sites, admins everywhere ----------
# Removal and deactivation act on a throw-away counsellor per cell (tests/team_support.py).
TEAM_MANAGERS = {"lead_x": OK, "admin": OK, "counsellor_x": Http(403, "not_lead"),
                 "counsellor_y": Http(403, "not_member")}
HTTP_MATRIX.update({
    "GET /api/team/sites": row(FORBIDDEN, lead_x=OK, admin=OK, **NO_SESSION),
    "GET /api/sites/{site_id}/team": row(FORBIDDEN, **TEAM_MANAGERS, **NO_SESSION),
    "POST /api/sites/{site_id}/team/invitations": row(
        FORBIDDEN, **{**TEAM_MANAGERS, "lead_x": CREATED, "admin": CREATED}, **NO_SESSION),
    "POST /api/sites/{site_id}/team": row(FORBIDDEN, admin=OK, **NO_SESSION),
    "POST /api/sites/{site_id}/team/{account_id}/languages": row(
        FORBIDDEN, **TEAM_MANAGERS, **NO_SESSION),
    "DELETE /api/sites/{site_id}/team/{account_id}": row(
        FORBIDDEN, **TEAM_MANAGERS, **NO_SESSION),
    "POST /api/accounts/{account_id}/deactivate": row(FORBIDDEN, admin=OK, **NO_SESSION),
    # Issue #3: admins look up counsellors to assign them to another site.
    "GET /api/team/counsellors": row(FORBIDDEN, admin=OK, **NO_SESSION),
})


async def _team_invite(world: SecurityWorld, role: str) -> Req:
    return Req("POST", f"/api/sites/{world.site_x}/team/invitations",
               {"role": "counsellor", "display_name": "Neu", "languages": ["de", "ar"]})


async def _team_assign(world: SecurityWorld, role: str) -> Req:
    from tests.team_support import fresh_staff

    return Req("POST", f"/api/sites/{world.site_x}/team",
               {"account_id": await fresh_staff(world, world.site_y)})


async def _team_languages(world: SecurityWorld, role: str) -> Req:
    member = world.actors["counsellor_x"].account_id
    return Req("POST", f"/api/sites/{world.site_x}/team/{member}/languages",
               {"languages": ["de", "ar"]})


async def _team_remove(world: SecurityWorld, role: str) -> Req:
    from tests.team_support import fresh_staff

    return Req("DELETE", f"/api/sites/{world.site_x}/team/"
               f"{await fresh_staff(world, world.site_x)}")


async def _team_deactivate(world: SecurityWorld, role: str) -> Req:
    from tests.team_support import fresh_staff

    return Req("POST", f"/api/accounts/{await fresh_staff(world, world.site_x)}/deactivate", {})


HTTP_REQUESTS.update({
    "GET /api/team/sites": _get("/api/team/sites"),
    "GET /api/sites/{site_id}/team": _get("/api/sites/{x}/team"),
    "POST /api/sites/{site_id}/team/invitations": _team_invite,
    "POST /api/sites/{site_id}/team": _team_assign,
    "POST /api/sites/{site_id}/team/{account_id}/languages": _team_languages,
    "DELETE /api/sites/{site_id}/team/{account_id}": _team_remove,
    "POST /api/accounts/{account_id}/deactivate": _team_deactivate,
    "GET /api/team/counsellors": _get("/api/team/counsellors?q=a"),
})


# --- socket.io payloads ----------------------------------------------------------------------


@dataclass
class Objects:
    """The objects of one cell, made on demand and closed afterwards."""

    world: SecurityWorld
    conversations: list[tuple[str, str]] = field(default_factory=list)  # (id, owner role)
    ids: list[str] = field(default_factory=list)  # every id a payload refers to
    _claimed: Conv | None = None

    async def claimed(self) -> Conv:
        if self._claimed is None:
            self._claimed = await self.world.fresh_conversation()
            self.conversations.append((self._claimed.id, "young_a"))
            self.ids.append(self._claimed.id)
        return self._claimed

    async def waiting(self) -> str:
        conv = await self.world.fresh_conversation(claimed=False)
        self.conversations.append((conv.id, "young_a"))
        self.ids.append(conv.id)
        return conv.id

    async def canned(self) -> str:
        canned_id = await self.world.fresh_canned()
        self.ids.append(canned_id)
        return canned_id

    def site_x(self) -> str:
        self.ids.append(self.world.site_x)
        return self.world.site_x

    async def cleanup(self) -> None:
        for conversation_id, owner in self.conversations:
            await self.world.close(conversation_id, owner)


Payload = tuple[dict[str, Any], str | None]  # (payload, id whose visibility is checked)
Builder = Callable[[SecurityWorld, str, Objects], Awaitable[Payload]]


def _on_conversation(**extra: Any) -> Builder:
    async def build(world: SecurityWorld, role: str, objects: Objects) -> Payload:
        conv = await objects.claimed()
        return {"conversation_id": conv.id, **extra}, conv.id
    return build


async def _nothing(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {}, None


async def _list(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {}, (await objects.claimed()).id


async def _send(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    conv = await objects.claimed()
    return {"conversation_id": conv.id, "envelope": world.message(role, conv)}, None


async def _note(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    conv = await objects.claimed()
    return {"conversation_id": conv.id, "sealed_note": "bm90ZQ", "site_key_version": 1}, None


async def _absence(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {"until": None}, None


async def _canned_list(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {}, await objects.canned()


async def _canned_save(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {"site_id": objects.site_x(), "language": "de", "sealed": "c2F2ZWQ",
            "site_key_version": 1}, None


async def _canned_delete(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {"id": await objects.canned()}, None


async def _enquiry(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    payload, conv = enquiry_payload(None, world.actors[role].person(), "Hallo",  # type: ignore[arg-type]
                                    site_key=world.key_x)
    objects.conversations.append((conv.id, role))
    return payload, None


async def _queue(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    waiting = await objects.waiting()
    return {"site_id": objects.site_x()}, waiting


async def _claim(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {"conversation_id": await objects.waiting()}, None


async def _fresh_round(world: SecurityWorld, objects: Objects) -> tuple[str, str]:
    """A round of site X (open now) that young person A joined: (round id, A's member id)."""
    from server.services import rounds as rounds_service

    summary = await rounds_service.schedule(
        world.sessions, world.clock, world.actors["counsellor_x"].context(),
        site_id=world.site_x, topic="Ausbildung finden", language="ar",
        starts_at=world.clock.now(), duration_minutes=60, max_participants=5)
    joined = await rounds_service.join(world.sessions, world.clock,
                                       world.actors["young_a"].context(), summary.id,
                                       rules_accepted=True, after_seq=0)
    assert joined.me is not None
    objects.ids += [summary.id, joined.me.member_id]
    return summary.id, joined.me.member_id


def _on_round(kind: str) -> Builder:
    async def build(world: SecurityWorld, role: str, objects: Objects) -> Payload:
        from server.crypto.conversation import new_conversation_key
        from server.crypto.rounds import encrypt_round_message, seal_round_key

        round_id, member_id = await _fresh_round(world, objects)
        keys = generate_identity()
        if kind == "join":
            return {"round_id": round_id, "rules_accepted": True, "after_seq": 0}, None
        if kind in ("mute", "remove"):
            extra = {"muted": True} if kind == "mute" else {}
            return {"round_id": round_id, "member_id": member_id, **extra}, None
        if kind == "send":
            return {"round_id": round_id, "envelope": encrypt_round_message(
                round_id=round_id, epoch=1, epoch_key=new_conversation_key(),
                sender_member_id=member_id, signer=keys,
                message={"type": "text", "body": "x", "sent_at": 1})}, None
        if kind == "rekey":
            return {"round_id": round_id, "epoch": 1, "shares": [{
                "member_id": member_id, "sealed": seal_round_key(
                    round_id=round_id, epoch=1, key=new_conversation_key(),
                    recipient_x25519_public=keys.x25519_public, sender_member_id=member_id,
                    signer=keys)}]}, None
        return {"round_id": round_id}, None
    return build


EVENT_PAYLOADS: dict[str, Builder] = {
    "server_info": _nothing,
    "conversation.list": _list,
    "conversation.join": _on_conversation(after_seq=0),
    "conversation.leave": _on_conversation(),
    "message.send": _send,
    "message.history": _on_conversation(before_seq=1000, limit=10),
    "message.read": _on_conversation(seq=1),
    "typing": _on_conversation(active=True),
    "conversation.close": _on_conversation(),
    "note.add": _note,
    "note.list": _on_conversation(),
    "absence.set": _absence,
    "canned.list": _canned_list,
    "canned.save": _canned_save,
    "canned.delete": _canned_delete,
    "enquiry.create": _enquiry,
    "queue.list": _queue,
    "conversation.claim": _claim,
    "conversation.urgent": _on_conversation(urgent=True),
    "round.join": _on_round("join"),
    "round.leave": _on_round("leave"),
    "round.send": _on_round("send"),
    "round.rekey": _on_round("rekey"),
    "round.mute": _on_round("mute"),
    "round.remove": _on_round("remove"),
}


# --- handover (issue #6): propose to site Y, the young person answers, colleagues ------------
# The handover audit of a site: its leads and admins. Proposing, the colleague list and handing
# over: counsellors of the conversation's site (handing to a colleague: the assigned one;
# reassigning: a lead). Answering a proposal: only the young person whose conversation it is.
HTTP_MATRIX.update({
    "GET /api/sites/{site_id}/handovers": row(
        FORBIDDEN, lead_x=OK, admin=OK, counsellor_x=Http(403, "not_lead"),
        counsellor_y=Http(403, "not_member"), **NO_SESSION),
})
HTTP_REQUESTS.update({
    "GET /api/sites/{site_id}/handovers": _get("/api/sites/{x}/handovers"),
})
_STAFF_OF_X = {"young_a": FB, "young_b": FB, "admin": FB, "counsellor_y": NF}
EVENT_MATRIX.update({
    "handover.sites": event_row(FB, counsellor_x=Ack(), counsellor_y=Ack(), lead_x=Ack()),
    "handover.propose": event_row(NF, counsellor_x=Ack(), lead_x=Ack(), **_STAFF_OF_X),
    "handover.pending": event_row(NF, **CONVERSATION_READERS),
    "handover.accept": event_row(NF, young_a=Ack()),
    "handover.decline": event_row(NF, young_a=Ack()),
    "handover.colleagues": event_row(NF, counsellor_x=Ack(), lead_x=Ack(), **_STAFF_OF_X),
    "handover.former": event_row(NF, counsellor_x=Ack(), lead_x=Ack(), **_STAFF_OF_X),
    "handover.colleague": event_row(NF, counsellor_x=Ack(), lead_x=Ack("not_assigned"),
                                    **_STAFF_OF_X),
    "handover.reassign": event_row(NF, counsellor_x=Ack("not_lead"), lead_x=Ack(),
                                   **_STAFF_OF_X),
})


async def _proposed(world: SecurityWorld, objects: Objects) -> tuple[Conv, str]:
    """A's claimed conversation with a pending proposal (counsellor X → site Y)."""
    from datetime import timedelta as hours_delta

    from server.services import handover as handover_service

    conv = await objects.claimed()
    outcome = await handover_service.propose(
        world.sessions, world.clock, world.actors["counsellor_x"].context(), conv.id,
        world.site_y, note_sealed=None, note_site_key_version=None, ttl=hours_delta(hours=2))
    proposal_id = str(outcome.result["proposal"]["id"])
    objects.ids.append(proposal_id)
    return conv, proposal_id


async def _handover_accept(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    from server.crypto.conversation import new_conversation_key, seal_conversation_key

    conv, proposal_id = await _proposed(world, objects)
    young = world.actors["young_a"].person()
    key = new_conversation_key()

    def seal(epoch: int, value: bytes, to: bytes) -> dict[str, object]:
        return seal_conversation_key(conversation_id=conv.id, epoch=epoch, key=value,
                                     recipient_x25519_public=to, sender_id=young.id,
                                     signer=young.keys)

    site = world.key_y.keys.x25519_public
    return {"proposal_id": proposal_id, "allow_history": True, "epoch_keys": [
        {"recipient": "self", "sealed": seal(2, key, young.keys.x25519_public)},
        {"recipient": "site", "site_key_version": world.key_y.key_version,
         "sealed": seal(2, key, site)},
    ], "history_keys": [{"epoch": 1, "sealed": seal(1, conv.key, site)}]}, None


async def _handover_decline(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    _conv, proposal_id = await _proposed(world, objects)
    return {"proposal_id": proposal_id}, None


async def _handover_propose(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    conv = await objects.claimed()
    return {"conversation_id": conv.id, "to_site_id": world.site_y}, None


async def _handover_sites(world: SecurityWorld, role: str, objects: Objects) -> Payload:
    return {"query": "", "language": "de"}, None


def _handover_to_lead() -> Builder:
    async def build(world: SecurityWorld, role: str, objects: Objects) -> Payload:
        conv = await objects.claimed()
        return {"conversation_id": conv.id,
                "to_account_id": world.actors["lead_x"].account_id}, None
    return build


EVENT_PAYLOADS.update({
    "handover.sites": _handover_sites,
    "handover.propose": _handover_propose,
    "handover.pending": _on_conversation(),
    "handover.accept": _handover_accept,
    "handover.decline": _handover_decline,
    "handover.colleagues": _on_conversation(),
    "handover.former": _on_conversation(),
    "handover.colleague": _handover_to_lead(),
    "handover.reassign": _handover_to_lead(),
})


# =============================================================================================
# The tables cover everything (a new endpoint or event without a row fails here)
# =============================================================================================


def enumerate_http_routes(app: web.Application) -> set[str]:
    """Every route of the app as "METHOD /canonical", without static files and without the
    HEAD twin aiohttp adds to each GET."""
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource):
            continue
        found.add((route.method, resource.canonical))
    gets = {path for method, path in found if method == "GET"}
    return {f"{method} {path}" for method, path in found
            if not (method == "HEAD" and path in gets)}


def enumerate_socket_events() -> set[str]:
    """The handler names of every event a client can trigger on the main namespace."""
    return {
        name for name in dir(MainNamespace)
        if name.startswith("on_") and name[3:] not in _NOT_EVENTS
        and _is_event_handler(getattr(MainNamespace, name))
    }


async def test_every_http_route_has_a_row(tmp_path: Path) -> None:
    app = create_app(make_config(f"sqlite+aiosqlite:///{tmp_path / 'routes.db'}"))
    routes = enumerate_http_routes(app)
    missing = sorted(routes - set(HTTP_MATRIX))
    stale = sorted(set(HTTP_MATRIX) - routes)
    assert not missing, (
        f"New HTTP endpoint(s) {missing}: add a row to HTTP_MATRIX (and a request to "
        "HTTP_REQUESTS) in tests/transport/test_authorization_matrix.py saying which roles may "
        "use it"
    )
    assert not stale, f"HTTP_MATRIX has rows for routes that no longer exist: {stale}"
    assert set(HTTP_REQUESTS) | SOCKET_IO_ROUTES == set(HTTP_MATRIX)
    for endpoint, expected in HTTP_MATRIX.items():
        assert set(expected) == set(ROLES), endpoint


async def test_every_socket_event_has_a_row() -> None:
    handlers = enumerate_socket_events()
    covered = {handler_name(event) for event in EVENT_MATRIX}
    missing = sorted(handlers - covered)
    assert not missing, (
        f"New socket.io event handler(s) {missing}: add a row to EVENT_MATRIX (and a payload to "
        "EVENT_PAYLOADS) in tests/transport/test_authorization_matrix.py saying which roles may "
        "send the event"
    )
    assert covered <= handlers, f"rows for events without a handler: {covered - handlers}"
    assert set(EVENT_PAYLOADS) == set(EVENT_MATRIX)
    for event, expected in EVENT_MATRIX.items():
        assert set(expected) == set(ROLES), event


# --- moderation (issue #8): counsellors of the conversation's site block / report its young
# person; reports go to the site's lead and admins (a fresh report of A per cell).
HTTP_MATRIX.update({
    "GET /api/reports": row(FORBIDDEN, lead_x=OK, admin=OK, **NO_SESSION),
    "POST /api/reports/{report_id}/resolve": row(
        Http(404, "not_found"), lead_x=OK, admin=OK, **NO_SESSION),
})


async def _resolve_report(world: SecurityWorld, role: str) -> Req:
    from server.services import moderation as moderation_service

    conv = await world.fresh_conversation()
    report = await moderation_service.report(
        world.sessions, world.clock, world.actors["counsellor_x"].context(), conv.id,
        "spam", None, None)
    await world.close(conv.id)
    return Req("POST", f"/api/reports/{report['id']}/resolve", {"action": "dismiss"})


async def _lead_sees_only_site_x_reports(world: SecurityWorld, role: str, response: Response
                                         ) -> None:
    if role == "lead_x":
        assert {i["site_id"] for i in response.body["items"]} <= {world.site_x}


HTTP_REQUESTS.update({
    "GET /api/reports": _get("/api/reports?state=all", after=_lead_sees_only_site_x_reports),
    "POST /api/reports/{report_id}/resolve": _resolve_report,
})
_SITE_X_MODERATORS = {"counsellor_x": Ack(), "lead_x": Ack()}
EVENT_MATRIX.update({
    "moderation.block": event_row(NF, **_SITE_X_MODERATORS),
    "moderation.unblock": event_row(NF, **_SITE_X_MODERATORS),
    "moderation.report": event_row(NF, **_SITE_X_MODERATORS),
    "moderation.status": event_row(NF, **_SITE_X_MODERATORS),
})
EVENT_PAYLOADS.update({
    "moderation.block": _on_conversation(reason="harassment"),
    "moderation.unblock": _on_conversation(),
    "moderation.report": _on_conversation(reason="threats", sealed_note="bm90ZQ",
                                          site_key_version=1),
    "moderation.status": _on_conversation(),
})


# =============================================================================================
# The cells
# =============================================================================================


HTTP_CELLS = [(endpoint, role) for endpoint in HTTP_MATRIX for role in ROLES]
EVENT_CELLS = [(event, role) for event in EVENT_MATRIX for role in ROLES]


async def token_of(world: SecurityWorld, role: str) -> str | None:
    """The role's session cookie. "expired": a fresh session of young person A that expired an
    hour ago (looking an expired session up deletes it, so each cell gets its own; the world's
    first expired session came from moving the clock on)."""
    if role == "expired":
        ttl = timedelta(hours=world.config.security.session_ttl_hours)
        return await world.extra_session("young_a", age=ttl + timedelta(hours=1))
    return world.actors[role].token


@pytest.mark.parametrize(("endpoint", "role"), HTTP_CELLS)
async def test_http_cell(world: SecurityWorld, endpoint: str, role: str) -> None:
    expected = HTTP_MATRIX[endpoint][role]
    token = await token_of(world, role)
    if endpoint == "GET /socket.io/":
        refused = await world.connect_refused(token)
        assert refused == (expected == REFUSED), f"{role}: socket.io connection"
        return
    if endpoint in SOCKET_IO_ROUTES:
        method = endpoint.split(" ", 1)[0]
        response = await world.request(method, "/socket.io/?EIO=4&transport=polling",
                                       token=token, data=b"1:6")
        assert response.status == expected.status, (role, response.status, response.body)
        return
    request = await HTTP_REQUESTS[endpoint](world, role)
    response = await world.request(
        # Like the browser client (client/src/net/api.js): a state-changing request is always
        # a JSON request, also without a body (the server refuses anything else as CSRF).
        request.method, request.path,
        json={} if request.json is None and request.method != "GET" else request.json,
        token=token if request.own_session else request.token,
    )
    got = (response.status, response.body.get("code") if isinstance(response.body, dict)
           and not response.body.get("ok", True) else None)
    assert got == (expected.status, expected.code), f"{endpoint} as {role}: {response.body}"
    if response.status < 300 and request.after is not None:
        await request.after(world, role, response)


def _ids_replaced(payload: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    text = json.dumps(payload)
    for old in ids:
        text = text.replace(old, random_id())
    return dict(json.loads(text))


@pytest.mark.parametrize(("event", "role"), EVENT_CELLS)
async def test_event_cell(world: SecurityWorld, event: str, role: str) -> None:
    expected = EVENT_MATRIX[event][role]
    if role in NO_SESSION_ROLES:
        assert expected == NO_CONNECTION
        assert await world.connect_refused(await token_of(world, role)), (
            f"{role} must not get a socket.io connection"
        )
        return
    objects = Objects(world)
    try:
        payload, probe = await EVENT_PAYLOADS[event](world, role, objects)
        client = await world.client(role)
        ack = await client.call(event, payload)
        assert isinstance(ack, dict) and "ok" in ack, ack
        if expected.code is None:
            assert ack["ok"] is True, f"{event} as {role}: {ack}"
        else:
            assert (ack["ok"], ack.get("code")) == (False, expected.code), (
                f"{event} as {role}: {ack}"
            )
            assert set(ack) == {"ok", "code", "message"}, ack
        if expected.sees is not None:
            assert probe is not None
            assert (probe in json.dumps(ack)) == expected.sees, (
                f"{event} as {role}: the object must {'' if expected.sees else 'not '}be "
                f"visible: {ack}"
            )
        if expected.code == "not_found":
            # The same request about ids that do not exist: exactly the same answer.
            unknown = await client.call(event, _ids_replaced(payload, objects.ids))
            assert unknown == ack, f"{event} as {role} reveals that the object exists"
    finally:
        await objects.cleanup()


# =============================================================================================
# Sessions that end while a connection is open
# =============================================================================================


async def _connect_with(world: SecurityWorld, role: str, token: str) -> Client:
    client = Client(replace(world.actors[role].person(), token=token))

    async def disconnected(*_: Any) -> None:
        await client._record("disconnect", {})

    client.sio.on("disconnect", disconnected)
    return await client.connect(world.url)


async def test_an_event_after_the_session_expired_is_refused(world: SecurityWorld) -> None:
    """A socket.io connection is authenticated once, at connect; the session's lifetime must
    still hold for it (a counsellor's screen left open overnight, a shared computer)."""
    ttl = timedelta(hours=world.config.security.session_ttl_hours)
    token = await world.extra_session("young_a", age=ttl - timedelta(minutes=1))
    client = await _connect_with(world, "young_a", token)
    try:
        before = await client.call("conversation.list", {})
        assert before["ok"] is True
        world.clock.advance(timedelta(minutes=2))
        after = await client.call("conversation.list", {})
        assert (after["ok"], after.get("code")) == (False, "unauthorized"), after
        await client.wait_for("session.ended", within=5)
        await client.wait_for("disconnect", within=5)
        assert not client.sio.connected
    finally:
        await client.close()


async def test_a_silent_connection_is_closed_when_its_session_expires(
    world: SecurityWorld,
) -> None:
    """Nothing sent, nothing asked: the connection still ends with its session (and with it
    the live events of every room it was in)."""
    ttl = timedelta(hours=world.config.security.session_ttl_hours)
    token = await world.extra_session("young_a", age=ttl - timedelta(seconds=1))
    client = await _connect_with(world, "young_a", token)
    try:
        await client.wait_for("session.ended", within=10)
        await client.wait_for("disconnect", within=10)
        world.clock.advance(timedelta(seconds=2))  # the test clock stands still otherwise
        assert await world.connect_refused(token)
    finally:
        await client.close()


# =============================================================================================
# Live events reach only those who may see them
# =============================================================================================


async def test_live_events_reach_only_those_allowed(world: SecurityWorld) -> None:
    """Every live role tries to join A's conversation and listens; A writes, a new enquiry
    arrives, a counsellor marks it urgent. Only the counsellors of site X may hear anything
    (A is the sender of both and is skipped for its own message)."""
    conv = await world.fresh_conversation()
    listeners = {role: await world.client(role) for role in LIVE_ROLES if role != "young_a"}
    for client in listeners.values():
        client.events.clear()
        await client.call("conversation.join", {"conversation_id": conv.id, "after_seq": 0})
        await client.call("queue.list", {})  # counsellors (re)join their queue rooms
    young = await world.client("young_a")
    sent = await young.call("message.send", {"conversation_id": conv.id,
                                             "envelope": world.message("young_a", conv)})
    assert sent["ok"], sent
    await young.call("typing", {"conversation_id": conv.id, "active": True})
    enquiry, waiting = enquiry_payload(None, world.actors["young_a"].person(), "Hallo",  # type: ignore[arg-type]
                                       site_key=world.key_x)
    created = await young.call("enquiry.create", enquiry)
    assert created["ok"], created
    marked = await (await world.client("counsellor_x")).call(
        "conversation.urgent", {"conversation_id": waiting.id, "urgent": True})
    assert marked["ok"], marked
    allowed = {"counsellor_x", "lead_x"}
    try:
        for role in allowed:
            client = listeners[role]
            await client.wait_for("message.new", lambda e: e["conversation_id"] == conv.id)
            await client.wait_for("typing", lambda e: e["conversation_id"] == conv.id)
            await client.wait_for("queue.added",
                                  lambda e: e["item"]["conversation_id"] == waiting.id)
            await client.wait_for("conversation.urgent",
                                  lambda e: e["conversation_id"] == waiting.id)
        await asyncio.sleep(0.5)  # what would leak has had the time to arrive
        for role, client in listeners.items():
            if role in allowed:
                continue
            heard = json.dumps(dict(client.events))
            assert conv.id not in heard and waiting.id not in heard, (
                f"{role} received events about a conversation it may not see: "
                f"{sorted(client.events)}"
            )
    finally:
        await world.close(conv.id)
        await world.close(waiting.id)


async def test_default_lists_show_only_the_own_sites(world: SecurityWorld) -> None:
    """Without a site filter, the queue and the canned responses are those of the own sites."""
    waiting = await world.fresh_conversation(claimed=False)
    canned = await world.fresh_canned()
    try:
        for role, sees in (("counsellor_x", True), ("lead_x", True), ("counsellor_y", False)):
            client = await world.client(role)
            queue = await client.call("queue.list", {})
            assert queue["ok"] and (waiting.id in json.dumps(queue)) == sees, (role, queue)
            listed = await client.call("canned.list", {})
            assert listed["ok"] and (canned in json.dumps(listed)) == sees, (role, listed)
    finally:
        await world.close(waiting.id)


async def test_personal_canned_responses_are_private(world: SecurityWorld) -> None:
    """A counsellor's own canned responses: nobody else sees, changes or deletes them — not
    even the lead of the same site."""
    own = await (await world.client("counsellor_x")).call("canned.save", {
        "language": "de", "sealed": "cHJpdmF0ZQ"})
    assert own["ok"], own
    canned_id = own["item"]["id"]
    for role in ("lead_x", "counsellor_y"):
        client = await world.client(role)
        listed = await client.call("canned.list", {})
        assert canned_id not in json.dumps(listed), role
        changed = await client.call("canned.save", {"id": canned_id, "language": "de",
                                                    "sealed": "b3RoZXI"})
        deleted = await client.call("canned.delete", {"id": canned_id})
        for ack in (changed, deleted):
            assert (ack["ok"], ack.get("code")) == (False, "not_found"), (role, ack)
    mine = await (await world.client("counsellor_x")).call("canned.list", {})
    assert canned_id in json.dumps(mine)
