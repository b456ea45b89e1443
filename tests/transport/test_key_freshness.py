"""Key freshness after a site key rotation (issue #3, server/services/key_freshness.py).

Real server, real accounts, SQLite and PostgreSQL; the Python protocol implementation plays
every browser. After a counsellor is removed and the site key rotated and certified:

* the team's open sockets hear `site.keys_changed` when a version is created or sealed;
* an enquiry or a new epoch sealed to the old site key version is refused (`stale_site_key`);
* the removed counsellor's re-queued conversation can only be claimed with a new epoch
  (`rekey_required` otherwise); what is written afterwards opens for the young person and the
  new counsellor, and NOT with the keys the removed counsellor kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from server.crypto import primitives as prim
from server.crypto.conversation import encrypt_message, open_conversation_key, open_envelope
from server.crypto.encoding import b64url_encode
from server.crypto.errors import CryptoError
from server.crypto.sites import create_site_key, seal_site_key
from tests.account_material import b64
from tests.conversation_support import Client, Person, enquiry_payload, open_site_share
from tests.security_support import SLUG_X, SecurityWorld, security_world
from tests.team_support import certify_all, new_counsellor, new_epoch_shares

ORG_SEED = prim.random_bytes(32)
ORG_PUBLIC = prim.ed25519_public(ORG_SEED)


@pytest_asyncio.fixture
async def world(db_url: str) -> AsyncIterator[SecurityWorld]:
    async with security_world(
        db_url, security={"org_public_key": b64url_encode(ORG_PUBLIC)}
    ) as built:
        ids = [built.actors[r].account_id for r in ("counsellor_x", "counsellor_y", "lead_x")]
        await certify_all(built, ORG_SEED, ids, [SLUG_X, "sec-trier-y"])
        yield built


def _resolver(*people: Person) -> Any:
    keys = {p.id: p.keys.ed25519_public for p in people}
    return lambda account_id, _skid: keys.get(account_id)


def _message(person: Person, conversation_id: str, epoch: int, key: bytes, text: str
             ) -> dict[str, Any]:
    return dict(encrypt_message(
        conversation_id=conversation_id, epoch=epoch, epoch_key=key, sender_id=person.id,
        signer=person.keys, message={"type": "text", "body": text, "sent_at": 1_767_000_000_000},
    ))


def _read(envelope: dict[str, Any], conversation_id: str, keys: dict[int, bytes],
          *people: Person) -> str:
    opened = open_envelope(envelope, conversation_id=conversation_id, epoch_keys=keys,
                           resolve_signing_key=_resolver(*people))
    return str(opened.message["body"])


async def test_rotation_stale_keys_refused_and_requeued_conversation_rekeyed(
    world: SecurityWorld,
) -> None:
    lead, removed = world.actors["lead_x"], world.actors["counsellor_x"]
    assert lead.material is not None and removed.material is not None
    young_a = world.actors["young_a"].person()
    x2 = await new_counsellor(world)
    await certify_all(world, ORG_SEED, [x2.id], [])
    sealed = await world.request("POST", f"/api/sites/{world.site_x}/keys/seal", role="lead_x",
                                 json={"account_id": x2.id, "version": 1,
                                       "sealed": b64(seal_site_key(world.key_x,
                                                                   x2.keys.x25519_public))})
    assert sealed.status == 200, sealed.body

    # The removed counsellor's conversation (epoch 1, site key v1): they keep its epoch key.
    conv = await world.fresh_conversation(claimed=True)
    kept_epoch_key, kept_site_key = conv.key, world.key_x

    x2_socket = await Client(x2).connect(world.url)
    young_socket = await world.client("young_a")
    try:
        gone = await world.request(
            "DELETE", f"/api/sites/{world.site_x}/team/{removed.account_id}", role="lead_x",
            json={})
        assert gone.status == 200 and gone.body["requeued"] == 1, gone.body

        # --- the new version: the team's open sockets hear of it -----------------------------
        v2 = create_site_key(world.site_x, 2)
        created = await world.request("POST", f"/api/sites/{world.site_x}/keys", role="lead_x",
                                      json={"x25519_public": b64(v2.keys.x25519_public),
                                            "ed25519_public": b64(v2.keys.ed25519_public),
                                            "sealed": b64(seal_site_key(
                                                v2, lead.material.identity.x25519_public))})
        assert created.status == 201 and created.body["version"] == 2, created.body
        changed = await x2_socket.wait_for("site.keys_changed")
        assert changed == {"site_id": world.site_x, "version": 2}
        x2_socket.events["site.keys_changed"].clear()
        to_x2 = await world.request("POST", f"/api/sites/{world.site_x}/keys/seal",
                                    role="lead_x", json={
                                        "account_id": x2.id, "version": 2,
                                        "sealed": b64(seal_site_key(v2, x2.keys.x25519_public))})
        assert to_x2.status == 200, to_x2.body
        assert await x2_socket.wait_for("site.keys_changed") == {
            "site_id": world.site_x, "version": 2}
        # Young people are in no queue room: they never get it.
        assert "site.keys_changed" not in young_socket.events
        await certify_all(world, ORG_SEED, [], [SLUG_X])  # jmdchat certify --site <slug>

        # --- an enquiry sealed to the old version is refused, the new one accepted ------------
        young_b = world.actors["young_b"].person()
        young_b_socket = await world.client("young_b")
        stale, _ = enquiry_payload(None, young_b, "alt", site_key=world.key_x)  # type: ignore[arg-type]
        stale["site_id"] = world.site_x  # as the browser sends it (from GET /api/route)
        refused = await young_b_socket.call("enquiry.create", stale)
        assert refused["ok"] is False and refused["code"] == "stale_site_key", refused
        fresh, _ = enquiry_payload(None, young_b, "neu", site_key=v2)  # type: ignore[arg-type]
        fresh["site_id"] = world.site_x
        made = await young_b_socket.call("enquiry.create", fresh)
        assert made["ok"], made

        # --- claiming the re-queued conversation needs a new epoch ----------------------------
        plain = await x2_socket.call("conversation.claim", {"conversation_id": conv.id})
        assert plain["ok"] is False and plain["code"] == "rekey_required", plain
        young_x = young_a.keys.x25519_public
        old_shares, _ = new_epoch_shares(conv.id, 2, x2, young_x, kept_site_key.keys.x25519_public,
                                         1)
        refused = await x2_socket.call("conversation.claim", {"conversation_id": conv.id,
                                                              "new_epoch": old_shares})
        assert refused["ok"] is False and refused["code"] == "stale_site_key", refused
        no_young, _ = new_epoch_shares(conv.id, 2, x2, None, v2.keys.x25519_public, 2)
        refused = await x2_socket.call("conversation.claim", {"conversation_id": conv.id,
                                                              "new_epoch": no_young})
        assert refused["ok"] is False and refused["code"] == "invalid", refused
        shares, new_key = new_epoch_shares(conv.id, 2, x2, young_x, v2.keys.x25519_public, 2)
        claimed = await x2_socket.call("conversation.claim", {"conversation_id": conv.id,
                                                              "new_epoch": shares})
        assert claimed["ok"], claimed
        assert claimed["conversation"]["current_epoch"] == 2

        # The young person's client learns the new epoch and opens its share (signed by x2).
        await young_socket.wait_for("conversation.updated",
                                    lambda e: e["conversation"]["id"] == conv.id
                                    and e["conversation"]["current_epoch"] == 2)
        joined = await young_socket.call("conversation.join", {"conversation_id": conv.id,
                                                               "after_seq": 0})
        assert joined["ok"], joined
        mine = next(k for k in joined["keys"] if k["epoch"] == 2 and k["recipient"] == "self")
        young_key = open_conversation_key(
            mine["sealed"], conversation_id=conv.id,
            recipient_x25519_private=young_a.keys.x25519_private,
            resolve_signing_key=_resolver(x2)).key
        assert young_key == new_key

        # Both write under epoch 2; the server refuses nothing.
        sent = await young_socket.call("message.send", {
            "conversation_id": conv.id,
            "envelope": _message(young_a, conv.id, 2, young_key, "Nach dem Wechsel")})
        assert sent["ok"], sent
        answer = await x2_socket.call("message.send", {
            "conversation_id": conv.id,
            "envelope": _message(x2, conv.id, 2, new_key, "Ich bin jetzt da")})
        assert answer["ok"], answer
        stored = await x2_socket.call("conversation.join", {"conversation_id": conv.id,
                                                            "after_seq": 0})
        envelopes = [m["envelope"] for m in stored["messages"]
                     if m["kind"] == "message" and m["epoch"] == 2]
        assert len(envelopes) == 2
        # The new counsellor opens epoch 2 through the NEW site key as well (any colleague can).
        site_share = next(k for k in stored["keys"]
                          if k["epoch"] == 2 and k["recipient"] == "site")
        assert site_share["site_key_version"] == 2
        via_site = open_site_share(v2, site_share["sealed"], conv.id, x2)
        assert [_read(e, conv.id, {2: via_site}, young_a, x2) for e in envelopes] == [
            "Nach dem Wechsel", "Ich bin jetzt da"]

        # --- the removed counsellor's kept keys open nothing of it -----------------------------
        for envelope in envelopes:
            with pytest.raises(CryptoError):  # unknown epoch
                _read(envelope, conv.id, {1: kept_epoch_key}, young_a, x2)
            with pytest.raises(CryptoError):  # the old key in its place
                _read(envelope, conv.id, {2: kept_epoch_key}, young_a, x2)
        with pytest.raises(CryptoError):  # the kept site key v1 does not open the v2 share
            open_site_share(kept_site_key, site_share["sealed"], conv.id, x2)
        # Nothing of epoch 2 is sealed to site key v1 or to them.
        assert all(k["site_key_version"] in (None, 2) for k in stored["keys"] if k["epoch"] == 2)
    finally:
        await x2_socket.close()


async def test_claim_without_a_departure_keeps_the_epoch(world: SecurityWorld) -> None:
    """No new epoch is asked for when nobody left: an ordinary claim works as before."""
    conv = await world.fresh_conversation(claimed=False)
    socket = await world.client("counsellor_x")
    claimed = await socket.call("conversation.claim", {"conversation_id": conv.id})
    assert claimed["ok"], claimed
    assert claimed["conversation"]["current_epoch"] == 1


async def test_lookup_of_counsellors_for_admins(world: SecurityWorld) -> None:
    counsellor = world.actors["counsellor_x"]
    found = await world.request("GET", "/api/team/counsellors?q=", role="admin")
    assert found.status == 200, found.body
    by_id = {item["id"]: item for item in found.body["items"]}
    assert counsellor.account_id in by_id
    item = by_id[counsellor.account_id]
    assert set(item) == {"id", "display_name", "role", "deactivated", "sites"}
    assert [s["id"] for s in item["sites"]] == [world.site_x]
    # Never young people, whatever the query.
    young = world.actors["young_a"]
    assert young.account_id not in by_id
    by_nick = await world.request("GET", f"/api/team/counsellors?q={young.nickname}",
                                  role="admin")
    assert by_nick.status == 200 and by_nick.body["items"] == [], by_nick.body
    # A part of a nickname finds the counsellor (case-insensitive); LIKE wildcards are literal.
    part = counsellor.nickname[1:6].upper()
    some = await world.request("GET", f"/api/team/counsellors?q={part}", role="admin")
    assert counsellor.account_id in {i["id"] for i in some.body["items"]}
    wild = await world.request("GET", "/api/team/counsellors?q=%25", role="admin")
    assert wild.status == 200 and wild.body["items"] == [], wild.body
    # Admins only; a query that is too long is a clear error.
    for role in ("lead_x", "counsellor_x", "young_a"):
        refused = await world.request("GET", "/api/team/counsellors?q=a", role=role)
        assert refused.status == 403, (role, refused.body)
    assert (await world.request("GET", "/api/team/counsellors", role="anonymous")).status == 401
    long = await world.request("GET", "/api/team/counsellors?q=" + "a" * 65, role="admin")
    assert long.status == 400 and long.body["code"] == "invalid", long.body
    # Then the admin assigns them to site Y: the lookup shows both sites.
    assigned = await world.request("POST", f"/api/sites/{world.site_y}/team", role="admin",
                                   json={"account_id": counsellor.account_id})
    assert assigned.status == 200, assigned.body
    again = await world.request("GET", "/api/team/counsellors?q=", role="admin")
    sites = next(i["sites"] for i in again.body["items"] if i["id"] == counsellor.account_id)
    assert sorted(s["id"] for s in sites) == sorted([world.site_x, world.site_y])
