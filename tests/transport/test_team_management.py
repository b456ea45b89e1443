"""Team management (issues #3, #9): removing a counsellor rotates the site key.

Real server, real accounts (tests/security_support.py), SQLite and PostgreSQL. The Python
protocol implementation plays every browser: the site lead's client makes site key version 2
and seals it, the young person's client seals a new enquiry to it, counsellors open what they
hold. The operator certifies with the organisation key (the certify service, as the CLI does).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from server.crypto import primitives as prim
from server.crypto.certificates import Certificate, verify_certificate
from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.errors import CryptoError
from server.crypto.keys import fingerprint, generate_identity
from server.crypto.sites import SiteKey as CryptoSiteKey
from server.crypto.sites import create_site_key, open_site_key, seal_site_key
from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.storage.models import Account, AuditEvent
from server.storage.repositories import accounts as accounts_repo
from tests.account_material import b64, material
from tests.conversation_support import Client, Conv, Person, enquiry_payload, open_site_share, read
from tests.security_support import COOKIE, SLUG_X, Response, SecurityWorld, security_world, unique
from tests.team_support import certify_all, login

ORG_SEED = prim.random_bytes(32)
ORG_PUBLIC = prim.ed25519_public(ORG_SEED)


async def _certify_all(world: SecurityWorld, account_ids: list[str], slugs: list[str]) -> None:
    await certify_all(world, ORG_SEED, account_ids, slugs)


async def _new_counsellor(world: SecurityWorld) -> Person:
    """A second counsellor of site X, joined by invitation as the product does it."""
    m = await asyncio.to_thread(material, "team-x2")
    nickname = unique("teamx")
    invitation = await world.accounts().create_invitation("counsellor", SLUG_X, "Yusuf")
    accepted = await world.request("POST", f"/api/invitations/{invitation.token}/accept",
                                   json=m.accept_body(nickname, "Yusuf"))
    assert accepted.status == 200, accepted.body
    secret = accepted.body["totp_secret"]
    setup = accepted.cookies[COOKIE].value
    code = totp_code(totp_secret_from_base32(secret), world.clock.now().timestamp())
    confirmed = await world.request("POST", "/api/auth/totp/confirm", token=setup,
                                    json={"code": code})
    assert confirmed.status == 200, confirmed.body
    token = await login(world, nickname, m.auth_key, secret)
    return Person(accepted.body["account"]["id"], nickname, "counsellor", token, m.identity,
                  "Yusuf")


@pytest_asyncio.fixture
async def world(db_url: str) -> AsyncIterator[SecurityWorld]:
    async with security_world(
        db_url, security={"org_public_key": b64url_encode(ORG_PUBLIC)}
    ) as built:
        # Re-sign everything with this module's organisation key (the configured one).
        ids = [built.actors[r].account_id for r in ("counsellor_x", "counsellor_y", "lead_x")]
        await _certify_all(built, ids, [SLUG_X, "sec-trier-y"])
        yield built


def _site_cert(world: SecurityWorld, listed: dict[str, Any]) -> Certificate:
    text = b64url_decode(listed["certificate"]).decode("utf-8")
    return verify_certificate(json.loads(text), ORG_PUBLIC, int(world.clock.now().timestamp()),
                              kind="site", subject=world.site_x, site_id=world.site_x)


async def _my_site_key(world: SecurityWorld, token: str, person_x25519_private: bytes,
                       version: int) -> CryptoSiteKey:
    """What a counsellor's client does: fetch the box, verify the certificate, open it."""
    boxes = await world.request("GET", "/api/me/site-keys", token=token)
    assert boxes.status == 200, boxes.body
    box = next(b for b in boxes.body["sealed"]
               if b["site_id"] == world.site_x and b["version"] == version)
    listed = await world.request("GET", f"/api/sites/{world.site_x}/keys", token=token)
    cert = _site_cert(world, next(k for k in listed.body["keys"] if k["version"] == version))
    return open_site_key(b64url_decode(box["sealed"]), person_x25519_private, cert)


async def _team(world: SecurityWorld, role: str = "lead_x") -> dict[str, Any]:
    response = await world.request("GET", f"/api/sites/{world.site_x}/team", role=role)
    assert response.status == 200, response.body
    return dict(response.body)


async def _disconnected(client: Client, within: float = 10) -> None:
    # `wait()` returns once the connection is gone (the client does not reconnect).
    await asyncio.wait_for(client.sio.wait(), within)
    assert not client.sio.connected, "the removed counsellor's connection must be closed"


def _refused(response: Response, status: int, code: str | None = None) -> None:
    assert response.status == status, response.body
    if code is not None:
        assert response.body["code"] == code, response.body


async def test_removing_a_counsellor_rotates_the_site_key(world: SecurityWorld) -> None:
    lead, removed = world.actors["lead_x"], world.actors["counsellor_x"]
    assert lead.material is not None and removed.material is not None
    x2 = await _new_counsellor(world)
    await _certify_all(world, [x2.id], [])
    # The lead's client hands site key v1 to the newcomer (as "adding a counsellor" works).
    sealed = await world.request("POST", f"/api/sites/{world.site_x}/keys/seal", role="lead_x",
                                 json={"account_id": x2.id, "version": 1,
                                       "sealed": b64(seal_site_key(world.key_x,
                                                                   x2.keys.x25519_public))})
    assert sealed.status == 200, sealed.body

    # An old conversation (site key v1), claimed by the counsellor who will be removed.
    old_conv = await world.fresh_conversation(claimed=True)
    team = await _team(world)
    by_id = {m["id"]: m for m in team["members"]}
    assert set(by_id) == {lead.account_id, removed.account_id, x2.id}
    assert by_id[x2.id]["key_versions"] == [1]
    assert by_id[removed.account_id]["certificate"]["status"] == "valid"
    assert team["rotation"]["state"] == "ok"

    removed_socket = await world.client("counsellor_x")
    young_a_socket = await world.client("young_a")  # the young person sees the change live
    x2_socket = await Client(x2).connect(world.url)
    try:
        assert (await removed_socket.call("queue.list", {}))["ok"]

        # --- the lead removes the counsellor ---------------------------------------------------
        gone = await world.request("DELETE", f"/api/sites/{world.site_x}/team/"
                                   f"{removed.account_id}", role="lead_x", json={})
        assert gone.status == 200, gone.body
        assert gone.body["requeued"] == 1
        await _disconnected(removed_socket)
        # The conversation is back in the site's queue, live for the remaining members.
        await x2_socket.wait_for("queue.added",
                                 lambda e: e["item"]["conversation_id"] == old_conv.id)
        updated = await young_a_socket.wait_for(
            "conversation.updated", lambda e: e["conversation"]["id"] == old_conv.id
            and e["conversation"]["status"] == "waiting")
        assert updated["conversation"]["status"] == "waiting"

        # Their session is gone; after signing in again every site request is refused.
        _refused(await world.request("GET", "/api/me/site-keys", role="counsellor_x"), 401)
        token = await login(world, removed.nickname, removed.material.auth_key,
                             removed.totp_secret)
        _refused(await world.request("GET", f"/api/sites/{world.site_x}/keys", token=token),
                 403, "not_member")
        _refused(await world.request("GET", f"/api/sites/{world.site_x}/team", token=token),
                 403, "not_member")
        mine = await world.request("GET", "/api/me/site-keys", token=token)
        assert mine.body["sealed"] == []
        again = await Client(Person(removed.account_id, removed.nickname, "counsellor", token,
                                    removed.material.identity)).connect(world.url)
        try:
            refused = await again.call("queue.list", {"site_id": world.site_x})
            assert refused["ok"] is False and refused["code"] == "not_found", refused
            claim = await again.call("conversation.claim", {"conversation_id": old_conv.id})
            assert claim["ok"] is False, claim
        finally:
            await again.close()

        # --- rotation --------------------------------------------------------------------------
        team = await _team(world)
        assert removed.account_id not in {m["id"] for m in team["members"]}
        assert team["rotation"]["state"] == "due"
        assert team["rotation"]["stale_version"] == 1

        v2 = create_site_key(world.site_x, 2)
        created = await world.request("POST", f"/api/sites/{world.site_x}/keys", role="lead_x",
                                      json={"x25519_public": b64(v2.keys.x25519_public),
                                            "ed25519_public": b64(v2.keys.ed25519_public),
                                            "sealed": b64(seal_site_key(
                                                v2, lead.material.identity.x25519_public))})
        assert created.status == 201 and created.body["version"] == 2, created.body
        team = await _team(world)
        assert team["rotation"]["state"] == "awaiting_certification"
        assert team["rotation"]["fingerprint"] == fingerprint(v2.keys.x25519_public,
                                                              v2.keys.ed25519_public)
        # Sealing to the remaining members right away (before certification) is allowed ...
        to_x2 = await world.request("POST", f"/api/sites/{world.site_x}/keys/seal",
                                    role="lead_x", json={
                                        "account_id": x2.id, "version": 2,
                                        "sealed": b64(seal_site_key(v2, x2.keys.x25519_public))})
        assert to_x2.status == 200, to_x2.body
        # ... but never to the removed counsellor.
        to_removed = await world.request(
            "POST", f"/api/sites/{world.site_x}/keys/seal", role="lead_x",
            json={"account_id": removed.account_id, "version": 2,
                  "sealed": b64(seal_site_key(v2, removed.material.identity.x25519_public))})
        _refused(to_removed, 404, "not_found")
        # Young people's clients still see only v1 until the operator signed v2.
        listed = await world.request("GET", f"/api/sites/{world.site_x}/keys", role="young_b")
        assert [k["version"] for k in listed.body["keys"]] == [1]

        await _certify_all(world, [], [SLUG_X])  # jmdchat certify --site <slug>
        team = await _team(world)
        assert team["rotation"]["state"] == "ok", team["rotation"]
        assert {m["id"]: m["key_versions"] for m in team["members"]} == {
            lead.account_id: [1, 2], x2.id: [1, 2]}
        async with world.sessions.begin() as db:
            held = await accounts_repo.box_versions_of_site(db, world.site_x)
        assert removed.account_id not in held

        # --- a new enquiry is sealed to v2 --------------------------------------------------
        young = world.actors["young_b"].person()
        listed = await world.request("GET", f"/api/sites/{world.site_x}/keys", role="young_b")
        active = [k for k in listed.body["keys"] if k["active"]]
        assert [k["version"] for k in active] == [2]
        young_socket = await world.client("young_b")
        stale, _ = enquiry_payload(None, young, "alt", site_key=world.key_x)  # type: ignore[arg-type]
        refused = await young_socket.call("enquiry.create", stale)
        assert refused["ok"] is False and refused["code"] == "route_changed", refused
        payload, new_conv = enquiry_payload(None, young, "Geheim nach der Rotation",  # type: ignore[arg-type]
                                            site_key=v2)
        made = await young_socket.call("enquiry.create", payload)
        assert made["ok"], made
        item = (await x2_socket.wait_for(
            "queue.added", lambda e: e["item"]["conversation_id"] == new_conv.id))["item"]
        share = next(k for k in item["epoch_keys"] if k["site_key_version"] == 2)["sealed"]

        # The remaining member opens v2 from their box and reads the new enquiry.
        x2_v2 = await _my_site_key(world, x2.token, x2.keys.x25519_private, 2)
        key = open_site_share(x2_v2, share, new_conv.id, young)
        assert read(item["first_message"], Conv(new_conv.id, key), young) == \
            "Geheim nach der Rotation"
        # The removed member kept v1 on their device; it opens nothing sealed to v2.
        with pytest.raises(CryptoError):
            open_site_share(world.key_x, share, new_conv.id, young)
        # Nor can a v2 box of theirs be opened: they have none; a box for the lead is not
        # theirs to open either.
        lead_box = await world.request("GET", "/api/me/site-keys", role="lead_x")
        lead_v2 = next(b for b in lead_box.body["sealed"] if b["version"] == 2)
        cert_v2 = _site_cert(world, next(k for k in listed.body["keys"] if k["version"] == 2))
        with pytest.raises(CryptoError):
            open_site_key(b64url_decode(lead_v2["sealed"]),
                          removed.material.identity.x25519_private, cert_v2)

        # Old v1 conversations stay readable by the remaining members.
        x2_v1 = await _my_site_key(world, x2.token, x2.keys.x25519_private, 1)
        queue = await x2_socket.call("queue.list", {"site_id": world.site_x})
        old_item = next(i for i in queue["items"] if i["conversation_id"] == old_conv.id)
        old_share = next(k for k in old_item["epoch_keys"] if k["site_key_version"] == 1)
        young_a = world.actors["young_a"].person()
        old_key = open_site_share(x2_v1, old_share["sealed"], old_conv.id, young_a)
        assert read(old_item["first_message"], Conv(old_conv.id, old_key), young_a) == "Hallo"
    finally:
        await x2_socket.close()

    # Audit trail.
    async with world.sessions.begin() as db:
        actions = set((await db.execute(
            select(AuditEvent.action).where(AuditEvent.site_id == world.site_x))).scalars())
    assert {"counsellor_removed", "site_key_rotation_due"} <= actions


async def test_deactivation_ends_everything(world: SecurityWorld) -> None:
    target = world.actors["counsellor_y"]
    assert target.material is not None
    socket = await world.client("counsellor_y")
    _refused(await world.request("POST", f"/api/accounts/{target.account_id}/deactivate",
                                 role="lead_x", json={}), 403)
    done = await world.request("POST", f"/api/accounts/{target.account_id}/deactivate",
                               role="admin", json={})
    assert done.status == 200, done.body
    await _disconnected(socket)
    _refused(await world.request("GET", "/api/auth/me", role="counsellor_y"), 401)
    # The password no longer works.
    world.clock.advance(timedelta(seconds=31))
    code = totp_code(totp_secret_from_base32(target.totp_secret), world.clock.now().timestamp())
    login = await world.request("POST", "/api/auth/login", json={
        "nickname": target.nickname, "auth_key": b64(target.material.auth_key),
        "totp_code": code})
    assert login.status == 401, login.body
    async with world.sessions.begin() as db:
        assert await accounts_repo.sites_of_account(db, target.account_id) == []
        account = await db.get(Account, target.account_id)
        assert account is not None  # kept: conversations and the audit trail name it
    team = await world.request("GET", f"/api/sites/{world.site_y}/team", role="admin")
    assert team.body["members"] == []
    assert team.body["rotation"]["state"] == "due"
    sites = await world.request("GET", "/api/team/sites", role="admin")
    due = {s["id"] for s in sites.body["sites"] if s["rotation_due"]}
    assert due == {world.site_y}


async def test_invite_languages_and_assignment(world: SecurityWorld) -> None:
    invited = await world.request("POST", f"/api/sites/{world.site_x}/team/invitations",
                                  role="lead_x", json={"role": "counsellor",
                                                       "display_name": "Dara",
                                                       "languages": ["fa_AF", "de"]})
    assert invited.status == 201, invited.body
    token = invited.body["link"].rsplit("/", 1)[-1]
    info = await world.request("GET", f"/api/invitations/{token}")
    assert info.status == 200, info.body
    team = await _team(world)
    assert [i["languages"] for i in team["invitations"] if i["display_name"] == "Dara"] == \
        [["fa_AF", "de"]]
    # Site leads cannot invite leads; bad languages are refused with a clear error.
    _refused(await world.request("POST", f"/api/sites/{world.site_x}/team/invitations",
                                 role="lead_x", json={"role": "site_lead"}), 403)
    _refused(await world.request("POST", f"/api/sites/{world.site_x}/team/invitations",
                                 role="lead_x", json={"languages": ["<script>"]}), 400, "invalid")

    member = world.actors["counsellor_x"].account_id
    langs = await world.request("POST", f"/api/sites/{world.site_x}/team/{member}/languages",
                                role="lead_x", json={"languages": ["ar", "de"]})
    assert langs.status == 200 and langs.body["languages"] == ["ar", "de"], langs.body
    assert {m["id"]: m["languages"] for m in (await _team(world))["members"]}[member] == \
        ["ar", "de"]
    # The lead of X manages nothing at Y; only admins assign to other sites.
    _refused(await world.request("GET", f"/api/sites/{world.site_y}/team", role="lead_x"),
             403, "not_member")
    _refused(await world.request("POST", f"/api/sites/{world.site_y}/team", role="lead_x",
                                 json={"account_id": member}), 403)
    assigned = await world.request("POST", f"/api/sites/{world.site_y}/team", role="admin",
                                   json={"account_id": member})
    assert assigned.status == 200, assigned.body
    team_y = await world.request("GET", f"/api/sites/{world.site_y}/team", role="admin")
    assert member in {m["id"] for m in team_y.body["members"]}
    # Removing oneself is refused (a lead would lock the team out).
    _refused(await world.request(
        "DELETE", f"/api/sites/{world.site_x}/team/{world.actors['lead_x'].account_id}",
        role="lead_x", json={}), 403, "remove_self")
    sites = await world.request("GET", "/api/team/sites", role="lead_x")
    assert [(s["id"], s["rotation_due"]) for s in sites.body["sites"]] == [(world.site_x, False)]
    unused = generate_identity()  # a stranger's id is simply not found
    _refused(await world.request("DELETE", f"/api/sites/{world.site_x}/team/"
                                 f"{b64url_encode(unused.x25519_public)[:36]}",
                                 role="lead_x", json={}), 404, "not_found")
