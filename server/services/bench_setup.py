"""`jmdchat bench-setup`: certified counsellors and a site key for the load generator.

Development mode only (the command refuses production). It makes, exactly like the demo loader
(`demo_accounts.py`) and through the same services: a nationwide online team `bench-online`
(enquiries without a location are routed there), M counsellors of that team (invitation,
acceptance, TOTP confirmation), a site key sealed to every member, and certificates signed by
the demo organisation key in `<server.data_dir>` (the development fallback of
`security.org_public_key`).

Key material is made as a browser makes it, with one shortcut that changes nothing for the
server: all bench counsellors share ONE password and ONE salt, so PBKDF2 (600 000 iterations,
never fewer) runs once instead of once per account. Each account still has its own identity
keys, its own wrapped key blob and recovery code, and the server still scrypt-hashes each
account's auth key. The load generator registers its young people through the HTTP API the
same way.

The logins (one password, the nicknames and their TOTP secrets) are written to a 0600 JSON file
for `bench/load.py`; they are benchmark accounts on a throw-away database, never real people.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from server.config import AppConfig
from server.crypto import primitives as prim
from server.crypto.encoding import b64url_encode
from server.crypto.keys import (
    DerivedKeys,
    KeyPairs,
    derive_password_keys,
    derive_recovery_keys,
    generate_identity,
    generate_recovery_code,
    new_kdf_params,
    wrap_identity,
)
from server.crypto.sites import create_site_key, seal_site_key
from server.crypto.tokens import TOTP_PERIOD, totp_code, totp_secret_from_base32
from server.services.accounts import Accounts, NewIdentity, NewPassword, nickname_key
from server.services.clock import Clock
from server.services.errors import Unauthorized
from server.services.rate_limit import SourceLimiter
from server.services.sessions import resolve_session
from server.services.site_keys import (
    DEMO_ORG_KEY_FILE,
    ORG_PUBLIC_KEY_FILE,
    find_pending,
    read_org_key_file,
    store_certificates,
    write_org_key_file,
)
from server.services.sites import seed_topics
from server.storage.db import Sessions
from server.storage.models import Site, SiteKey, SiteKeyBox
from server.storage.models.accounts import ROLE_COUNSELLOR, SCOPE_TOTP_SETUP
from server.storage.repositories import accounts as repo

BENCH_SITE_SLUG = "bench-online"
BENCH_LOGINS_FILE = "bench-logins.json"
BENCH_SOURCE = "bench-setup"
#: Accounts made at the same time (each acceptance spends two scrypt hashes in a thread).
PARALLEL = 4


class BenchSetupError(Exception):
    """The set-up cannot run here (production mode, a foreign organisation key...)."""


@dataclass(frozen=True)
class SharedPassword:
    """One password and salt for every bench account, derived once."""

    password: str
    salt: bytes
    iterations: int
    keys: DerivedKeys

    @classmethod
    def make(cls, password: str, salt: bytes | None = None) -> SharedPassword:
        params = new_kdf_params()
        use_salt = salt if salt is not None else params.salt
        keys = derive_password_keys(password, use_salt, params.iterations)
        return cls(password, use_salt, params.iterations, keys)

    def identity(
        self, nickname: str, display_name: str, *, young: bool
    ) -> tuple[KeyPairs, NewIdentity]:
        """A fresh identity (own keys, own recovery code) under the shared password: the key
        pairs (the client keeps them) and what registration sends."""
        identity = generate_identity()
        code, _formatted = generate_recovery_code()
        recovery = derive_recovery_keys(code)
        return identity, NewIdentity(
            nickname=nickname,
            password=NewPassword(self.salt, self.iterations, self.keys.auth_key,
                                 wrap_identity(identity, self.keys.wrap_key, "password")),
            recovery_blob=wrap_identity(identity, recovery.wrap_key, "recovery"),
            recovery_auth_key=recovery.auth_key,
            x25519_public=identity.x25519_public,
            ed25519_public=identity.ed25519_public,
            locale="de",
            age_group="15-17" if young else None,
            display_name=display_name,
        )


def _read_logins(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_logins(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")
    os.replace(tmp, path)


def _org_seed(config: AppConfig) -> bytes:
    """The demo organisation key of this data dir (made if missing), as the demo does."""
    data_dir = Path(config.server.data_dir)
    private = data_dir / DEMO_ORG_KEY_FILE
    if not private.exists():
        write_org_key_file(private, prim.random_bytes(32))
    seed = read_org_key_file(private)
    public = b64url_encode(prim.ed25519_public(seed))
    if config.security.org_public_key and config.security.org_public_key != public:
        raise BenchSetupError(
            "security.org_public_key is set to another key; bench-setup certifies with the "
            f"development key in {private} (unset security.org_public_key for benchmarks)"
        )
    (data_dir / ORG_PUBLIC_KEY_FILE).write_text(public + "\n", encoding="ascii")
    return seed


async def _ensure_site(sessions: Sessions, clock: Clock, slug: str, languages: list[str]) -> str:
    now = clock.now()
    async with sessions.begin() as db:
        site = await repo.get_site_by_slug(db, slug)
        if site is not None:
            return site.id
        site = Site(
            slug=slug, name="Bench Online", provider="bench", street="", postcode="",
            city="Online", state="", latitude=None, longitude=None, languages=languages,
            topics=[], opening_hours={}, runs_quartier=False, takes_online=True,
            is_online_team=True, phone="", email="", website="", active=True,
            created_at=now, updated_at=now,
        )
        db.add(site)
        await db.flush()
        return site.id


async def _make_counsellor(
    service: Accounts, sessions: Sessions, clock: Clock, shared: SharedPassword,
    nickname: str, site_slug: str, number: int,
) -> dict[str, str]:
    _keys, identity = shared.identity(nickname, f"Bench {number}", young=False)
    invitation = await service.create_invitation(
        ROLE_COUNSELLOR, site_slug, f"Bench {number}", nickname=nickname
    )
    accepted = await service.accept_invitation(invitation.token, identity)
    context = await resolve_session(sessions, accepted.session.token, clock.now(),
                                    SCOPE_TOTP_SETUP)
    assert context is not None
    secret = totp_secret_from_base32(accepted.totp_secret)
    # The previous step's code, as the demo does: the current one stays free for a login.
    # Under load a step boundary can pass before the server checks it (then it is two steps
    # old and refused); the current code is the fallback (a login then waits one step).
    try:
        previous = totp_code(secret, clock.now().timestamp() - TOTP_PERIOD)
        await service.confirm_totp(context, previous, BENCH_SOURCE)
    except Unauthorized:
        await service.confirm_totp(context, totp_code(secret, clock.now().timestamp()),
                                   BENCH_SOURCE)
    async with sessions.begin() as db:
        await repo.delete_sessions_of_account(db, accepted.account["id"])
    return {"id": str(accepted.account["id"]), "nickname": nickname,
            "totp_secret": accepted.totp_secret}


async def _ensure_site_key(sessions: Sessions, clock: Clock, site_id: str) -> int:
    """A new site key version sealed to every member, unless the newest already is."""
    now = clock.now()
    async with sessions.begin() as db:
        members = [account for account, _lead in await repo.members_of_site(db, site_id)]
        keys = await repo.site_keys_of_site(db, site_id)
        newest = keys[-1] if keys else None
        if newest is not None:
            holders = {m.id for m in members if await repo.get_box(db, newest.id, m.id)}
            if holders == {m.id for m in members}:
                return newest.version
        site_key = create_site_key(site_id, (newest.version + 1) if newest else 1)
        row = SiteKey(
            site_id=site_id, version=site_key.key_version,
            x25519_public=site_key.keys.x25519_public,
            ed25519_public=site_key.keys.ed25519_public, certificate=None,
            certificate_expires_at=None, created_by=None, created_at=now,
        )
        repo.add_site_key(db, row)
        await db.flush()
        for member in members:
            repo.add_box(db, SiteKeyBox(
                site_key_id=row.id, account_id=member.id,
                sealed=seal_site_key(site_key, member.x25519_public),
                sealed_by=None, created_at=now,
            ))
        return site_key.key_version


async def bench_setup(
    config: AppConfig, sessions: Sessions, clock: Clock, *, counsellors: int,
    logins_path: Path, site_slug: str = BENCH_SITE_SLUG,
) -> dict[str, Any]:
    """Make (or complete) the bench site and `counsellors` certified counsellors; returns and
    writes the logins file's content. Idempotent: counsellors of an earlier run are kept."""
    if config.server.mode != "development":
        raise BenchSetupError("bench-setup makes accounts with a known password: "
                              "development mode only (server.mode)")
    seed = _org_seed(config)
    await seed_topics(sessions)
    site_id = await _ensure_site(sessions, clock, site_slug, list(config.i18n.locales))
    stored = _read_logins(logins_path)
    if stored.get("site_id") != site_id:
        stored = {}
    password = str(stored.get("password") or "bench-" + secrets.token_urlsafe(12))
    salt_text = stored.get("salt")
    salt = bytes.fromhex(salt_text) if isinstance(salt_text, str) else None
    shared = await asyncio.to_thread(SharedPassword.make, password, salt)

    kept: list[dict[str, str]] = []
    async with sessions.begin() as db:
        for entry in stored.get("counsellors", []):
            account = await repo.get_account_by_nickname_key(db, nickname_key(entry["nickname"]))
            if account is not None and account.totp_enabled:
                kept.append(entry)
    service = Accounts(sessions, config, clock, SourceLimiter())
    gate = asyncio.Semaphore(PARALLEL)
    tag = secrets.token_hex(3)

    async def one(number: int) -> dict[str, str]:
        async with gate:
            return await _make_counsellor(service, sessions, clock, shared,
                                          f"bench-{tag}-{number:04d}", site_slug, number)

    made = await asyncio.gather(*(one(n) for n in range(len(kept), counsellors)))
    everyone = kept + list(made)
    version = await _ensure_site_key(sessions, clock, site_id)
    now: datetime = clock.now()
    await store_certificates(sessions, seed, await find_pending(sessions, now), now)
    data = {
        "note": "BENCHMARK ONLY: throw-away accounts on a throw-away database.",
        "site_id": site_id, "site_slug": site_slug, "site_key_version": version,
        "password": password, "salt": shared.salt.hex(), "iterations": shared.iterations,
        "counsellors": everyone,
    }
    _write_logins(logins_path, data)
    return data
