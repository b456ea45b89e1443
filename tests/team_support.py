"""Support for the team-management tests (issues #3, #9): throw-away staff accounts.

The authorization matrix and the fuzzing tests remove and deactivate accounts; each cell gets
its own counsellor, inserted directly (no password, no TOTP: nobody ever signs in with it), so
that the cells do not change the world the other cells rely on.
"""

from __future__ import annotations

import secrets

from server.crypto import primitives as prim
from server.crypto.keys import BLOB_LEN, generate_identity
from server.storage.models import Account, SiteMembership
from tests.security_support import SecurityWorld


async def fresh_staff(world: SecurityWorld, site_id: str | None, role: str = "counsellor"
                      ) -> str:
    """A counsellor account working in `site_id` (none: no site); returns its id."""
    identity = generate_identity()
    now = world.clock.now()
    nickname = f"staff{secrets.token_hex(4)}"
    async with world.sessions.begin() as db:
        account = Account(
            nickname=nickname, nickname_key=nickname, role=role, display_name="Temp",
            locale="de", age_group=None, kdf_salt=prim.random_bytes(16),
            kdf_iterations=600_000, auth_hash="unusable", recovery_hash="unusable",
            key_blob=prim.random_bytes(BLOB_LEN), recovery_blob=prim.random_bytes(BLOB_LEN),
            x25519_public=identity.x25519_public, ed25519_public=identity.ed25519_public,
            totp_secret_box=None, totp_enabled=True, totp_last_step=None, certificate=None,
            certificate_expires_at=None, created_at=now, updated_at=now,
        )
        db.add(account)
        await db.flush()
        if site_id is not None:
            db.add(SiteMembership(account_id=account.id, site_id=site_id, is_lead=False,
                                  created_at=now))
        return account.id


# --- the key freshness tests (issue #3): the operator, a second counsellor, a new epoch -------

import asyncio  # noqa: E402
from datetime import timedelta  # noqa: E402
from typing import Any  # noqa: E402

from server.crypto.conversation import new_conversation_key, seal_conversation_key  # noqa: E402
from server.crypto.keys import KeyPairs  # noqa: E402
from server.crypto.tokens import totp_code, totp_secret_from_base32  # noqa: E402
from server.services.site_keys import find_pending, store_certificates  # noqa: E402
from tests.account_material import b64, material  # noqa: E402
from tests.conversation_support import Person  # noqa: E402
from tests.security_support import COOKIE, SLUG_X, unique  # noqa: E402


async def certify_all(world: SecurityWorld, org_seed: bytes, account_ids: list[str],
                      slugs: list[str]) -> None:
    """The operator signs (the certify service, exactly what `jmdchat certify` calls)."""
    now = world.clock.now()
    items = []
    for account_id in account_ids:
        items += await find_pending(world.sessions, now, account_id=account_id)
    for slug in slugs:
        items += await find_pending(world.sessions, now, site_slug=slug)
    await store_certificates(world.sessions, org_seed, items, now)


async def login(world: SecurityWorld, nickname: str, auth_key: bytes, totp_secret: str) -> str:
    world.clock.advance(timedelta(seconds=31))  # a TOTP code counts once
    code = totp_code(totp_secret_from_base32(totp_secret), world.clock.now().timestamp())
    response = await world.request("POST", "/api/auth/login", json={
        "nickname": nickname, "auth_key": b64(auth_key), "totp_code": code})
    assert response.status == 200, response.body
    return str(response.cookies[COOKIE].value)


async def new_counsellor(world: SecurityWorld, display_name: str = "Yusuf") -> Person:
    """Another counsellor of site X, joined by invitation as the product does it."""
    m = await asyncio.to_thread(material, "team-x2")
    nickname = unique("teamx")
    invitation = await world.accounts().create_invitation("counsellor", SLUG_X, display_name)
    accepted = await world.request("POST", f"/api/invitations/{invitation.token}/accept",
                                   json=m.accept_body(nickname, display_name))
    assert accepted.status == 200, accepted.body
    secret = accepted.body["totp_secret"]
    setup = accepted.cookies[COOKIE].value
    code = totp_code(totp_secret_from_base32(secret), world.clock.now().timestamp())
    confirmed = await world.request("POST", "/api/auth/totp/confirm", token=setup,
                                    json={"code": code})
    assert confirmed.status == 200, confirmed.body
    token = await login(world, nickname, m.auth_key, secret)
    return Person(accepted.body["account"]["id"], nickname, "counsellor", token, m.identity,
                  display_name)


def new_epoch_shares(
    conversation_id: str, epoch: int, claimer: Person, young_x25519: bytes | None,
    site_x25519: bytes, site_key_version: int, key: bytes | None = None,
) -> tuple[list[dict[str, Any]], bytes]:
    """What the claiming counsellor's client sends as `conversation.claim {new_epoch}`: a fresh
    key for `epoch`, sealed to itself, the young person and the newest site key, signed by it."""
    key = key or new_conversation_key()

    def seal(to: bytes, signer: KeyPairs = claimer.keys) -> dict[str, object]:
        return seal_conversation_key(conversation_id=conversation_id, epoch=epoch, key=key,
                                     recipient_x25519_public=to, sender_id=claimer.id,
                                     signer=signer)

    shares: list[dict[str, Any]] = [
        {"recipient": "self", "sealed": seal(claimer.keys.x25519_public)},
        {"recipient": "site", "site_key_version": site_key_version, "sealed": seal(site_x25519)},
    ]
    if young_x25519 is not None:
        shares.append({"recipient": "young_person", "sealed": seal(young_x25519)})
    return shares, key
