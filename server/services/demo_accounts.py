"""Demo accounts for `jmdchat demo` / `make run`: try both sides at once.

Creates (idempotently) a demo organisation key under `server.data_dir`, a young person, counsellors
in Berlin (Amira and a site lead), Trier and the online team, and an admin. Everything goes
through the same services a browser uses, and the keys are made by the Python protocol
implementation exactly as a browser would make them: PBKDF2 with 600 000 iterations, HKDF,
wrapped key blobs, a recovery code. Counsellors confirm TOTP, get certified by the demo
organisation key, and each demo site gets a certified site key (version 1) sealed to every member.

The passwords, TOTP secrets and recovery codes exist only in `<data_dir>/demo-logins.json`
(0600) and in the printed output, never in the database (which holds what it holds for any
account: scrypt hashes, wrapped blobs, the TOTP secret encrypted at rest). Re-running prints the
same logins. If an account is missing from the database or from the file, it is made again.
If a member of a demo site lacks the newest site key (e.g. was made again), the demo rotates the
site key to a new version sealed to all members: the server never has a site private key to
re-seal, so that is the only honest way.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.config import AppConfig
from server.crypto import primitives as prim
from server.crypto.encoding import b64url_encode
from server.crypto.keys import (
    derive_password_keys,
    derive_recovery_keys,
    generate_identity,
    generate_recovery_code,
    new_kdf_params,
    wrap_identity,
)
from server.crypto.sites import create_site_key, seal_site_key
from server.crypto.tokens import (
    TOTP_PERIOD,
    encrypt_totp_secret,
    totp_code,
    totp_secret_from_base32,
)
from server.services.accounts import (
    Accounts,
    NewIdentity,
    NewPassword,
    delete_account_data,
    nickname_key,
)
from server.services.clock import Clock, SystemClock
from server.services.errors import ServiceError, Unauthorized
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
from server.storage.db import Sessions
from server.storage.models import SiteKey, SiteKeyBox
from server.storage.models.accounts import (
    ROLE_ADMIN,
    ROLE_COUNSELLOR,
    ROLE_SITE_LEAD,
    ROLE_YOUNG_PERSON,
    SCOPE_TOTP_SETUP,
)
from server.storage.repositories import accounts as repo

LOGINS_FILE = "demo-logins.json"
DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class DemoAccount:
    nickname: str
    display_name: str
    role: str
    site_slug: str | None  # None: young person / admin


DEMO_ACCOUNTS = (
    DemoAccount("demo-jugendliche", "", ROLE_YOUNG_PERSON, None),
    DemoAccount("amira-berlin", "Amira", ROLE_COUNSELLOR, "jmd-berlin"),
    DemoAccount("jonas-berlin", "Jonas", ROLE_SITE_LEAD, "jmd-berlin"),
    DemoAccount("lena-trier", "Lena", ROLE_COUNSELLOR, "jmd-trier"),
    DemoAccount("sami-online", "Sami", ROLE_COUNSELLOR, "jmd-online"),
    DemoAccount("demo-admin", "Mira", ROLE_ADMIN, None),
)


# --- the local logins file --------------------------------------------------------------------


def _read_logins(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("accounts", []) if isinstance(data, dict) else []
    return {
        nickname_key(str(e["nickname"])): e
        for e in entries
        if isinstance(e, dict) and "nickname" in e and "password" in e
    }


def _write_logins(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"note": "DEMO ONLY: local test logins, never use them for real people.",
                   "accounts": entries}, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


# --- key material as a browser makes it -------------------------------------------------------


@dataclass(frozen=True)
class _Material:
    identity: NewIdentity
    recovery_code: str


def _make_material(spec: DemoAccount, password: str, locale: str) -> _Material:
    """What client/src/account/flows.js sends: 600 000 PBKDF2 iterations, HKDF, wrapped blobs."""
    params = new_kdf_params()
    keys = derive_password_keys(password, params.salt, params.iterations)
    identity = generate_identity()
    code, formatted = generate_recovery_code()
    recovery = derive_recovery_keys(code)
    return _Material(
        NewIdentity(
            nickname=spec.nickname,
            password=NewPassword(
                params.salt, params.iterations, keys.auth_key,
                wrap_identity(identity, keys.wrap_key, "password"),
            ),
            recovery_blob=wrap_identity(identity, recovery.wrap_key, "recovery"),
            recovery_auth_key=recovery.auth_key,
            x25519_public=identity.x25519_public,
            ed25519_public=identity.ed25519_public,
            locale=locale,
            age_group="15-17" if spec.role == ROLE_YOUNG_PERSON else None,
            display_name=spec.display_name,
        ),
        formatted,
    )


def _new_password() -> str:
    # Long enough for the password rules, easy to type from the terminal.
    return "demo-" + "-".join(secrets.token_hex(3) for _ in range(3))


# --- creating accounts ------------------------------------------------------------------------


async def _create(
    service: Accounts, sessions: Sessions, clock: Clock, spec: DemoAccount, entry: dict[str, Any],
    locale: str,
) -> dict[str, Any]:
    password = str(entry.get("password") or _new_password())
    material = await asyncio.to_thread(_make_material, spec, password, locale)
    out: dict[str, Any] = {
        "nickname": spec.nickname, "password": password, "role": spec.role,
        "display_name": spec.display_name, "site": spec.site_slug,
        "recovery_code": material.recovery_code,
    }
    if spec.role == ROLE_YOUNG_PERSON:
        registered = await service.register(material.identity, DEMO_SOURCE)
        async with sessions.begin() as db:  # nobody uses the demo's own session
            await repo.delete_session(db, registered.session.session_id)
        return out
    invitation = await service.create_invitation(
        spec.role, spec.site_slug, spec.display_name, nickname=spec.nickname
    )
    accepted = await service.accept_invitation(invitation.token, material.identity)
    secret_b32 = str(entry.get("totp_secret") or accepted.totp_secret)
    secret = totp_secret_from_base32(secret_b32)
    async with sessions.begin() as db:
        account = await repo.get_account(db, accepted.account["id"])
        assert account is not None
        # Keep the TOTP secret of an earlier run, so the authenticator entry keeps working.
        account.totp_secret_box = encrypt_totp_secret(
            service.config.security.secret_key, account.id, secret
        )
    context = await resolve_session(
        sessions, accepted.session.token, clock.now(), SCOPE_TOTP_SETUP
    )
    assert context is not None
    # Confirm with the code of the previous 30-second step: the current and the next code stay
    # unused, so whoever tries the printed code right away can still log in with it. Under
    # heavy load a step boundary can pass before the server checks it (the code is then two
    # steps old and refused): fall back to the current code (a login then waits one step).
    try:
        previous = totp_code(secret, clock.now().timestamp() - TOTP_PERIOD)
        await service.confirm_totp(context, previous, DEMO_SOURCE)
    except Unauthorized:
        await service.confirm_totp(context, totp_code(secret, clock.now().timestamp()),
                                   DEMO_SOURCE)
    async with sessions.begin() as db:
        # The demo's setup session ended with the confirmation; drop the full one too.
        await repo.delete_sessions_of_account(db, accepted.account["id"])
    out["totp_secret"] = secret_b32
    return out


async def _ensure_accounts(
    config: AppConfig, sessions: Sessions, clock: Clock, logins_path: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    service = Accounts(sessions, config, clock, SourceLimiter())
    stored = _read_logins(logins_path)
    locale = config.i18n.default_locale
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    for spec in DEMO_ACCOUNTS:
        key = nickname_key(spec.nickname)
        entry = stored.get(key, {})
        async with sessions.begin() as db:
            site_missing = (
                spec.site_slug is not None
                and await repo.get_site_by_slug(db, spec.site_slug) is None
            )
            if site_missing:
                skipped.append(str(spec.site_slug))
                continue
            account = await repo.get_account_by_nickname_key(db, key)
            complete = account is not None and (
                spec.role == ROLE_YOUNG_PERSON or bool(account.totp_enabled)
            ) and bool(entry) and (spec.role == ROLE_YOUNG_PERSON or "totp_secret" in entry)
            if account is not None and not complete:
                await delete_account_data(db, account.id)
        if complete:
            entries.append(entry)
            continue
        entries.append(await _create(service, sessions, clock, spec, entry, locale))
        # Written after every account: an interrupted run still knows what it made.
        done = {nickname_key(str(e["nickname"])) for e in entries}
        _write_logins(logins_path, entries + [e for k, e in stored.items() if k not in done])
    _write_logins(logins_path, entries)
    return entries, skipped


# --- organisation key, certificates, site keys ------------------------------------------------


def _ensure_org_key(data_dir: Path) -> bytes:
    private = data_dir / DEMO_ORG_KEY_FILE
    if not private.exists():
        write_org_key_file(private, prim.random_bytes(32))
    seed = read_org_key_file(private)
    public_file = data_dir / ORG_PUBLIC_KEY_FILE
    public_file.write_text(b64url_encode(prim.ed25519_public(seed)) + "\n", encoding="ascii")
    return seed


async def _ensure_site_keys(sessions: Sessions, clock: Clock, site_slugs: list[str]) -> int:
    """Version n+1 for each demo site where a member lacks the newest version; returns how many
    versions were made. The demo acts as the site lead's browser here."""
    made = 0
    for slug in site_slugs:
        now = clock.now()
        async with sessions.begin() as db:
            site = await repo.get_site_by_slug(db, slug)
            if site is None:
                continue
            members = [account for account, _lead in await repo.members_of_site(db, site.id)]
            keys = await repo.site_keys_of_site(db, site.id)
            newest = keys[-1] if keys else None
            if newest is not None:
                holders = {
                    m.id for m in members if await repo.get_box(db, newest.id, m.id) is not None
                }
                if holders == {m.id for m in members}:
                    continue
            site_key = create_site_key(site.id, (newest.version + 1) if newest else 1)
            row = SiteKey(
                site_id=site.id, version=site_key.key_version,
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
            made += 1
    return made


# --- the loader -------------------------------------------------------------------------------


def _line(entry: dict[str, Any], now: float) -> list[str]:
    role = {
        ROLE_YOUNG_PERSON: "Young person", ROLE_COUNSELLOR: "Counsellor",
        ROLE_SITE_LEAD: "Site lead", ROLE_ADMIN: "Admin",
    }[str(entry["role"])]
    where = f" ({entry['site']})" if entry.get("site") else ""
    name = f" {entry['display_name']}" if entry.get("display_name") else ""
    lines = [f"  {role}{name}{where}: nickname {entry['nickname']}  password {entry['password']}"]
    if entry.get("totp_secret"):
        secret = totp_secret_from_base32(str(entry["totp_secret"]))
        lines.append(
            f"      TOTP secret {entry['totp_secret']} (use any TOTP app with this secret; "
            f"code right now: {totp_code(secret, now)})"
        )
    else:
        lines.append(f"      recovery code {entry['recovery_code']}")
    return lines


async def load(config: AppConfig, sessions: Sessions) -> list[str]:
    """Demo loader for `jmdchat demo` (runs after the sites loader)."""
    clock = SystemClock()
    data_dir = Path(config.server.data_dir)
    seed = _ensure_org_key(data_dir)
    entries, skipped = await _ensure_accounts(config, sessions, clock, data_dir / LOGINS_FILE)
    sites = sorted({str(e["site"]) for e in entries if e.get("site")})
    rotated = await _ensure_site_keys(sessions, clock, sites)
    lines = ["Demo accounts (logins also in "
             f"{data_dir / LOGINS_FILE}; demo only, never for real people):"]
    configured = config.security.org_public_key
    if configured and configured != b64url_encode(prim.ed25519_public(seed)):
        lines.append("  (security.org_public_key is set to another key: demo certificates "
                     "skipped, so counsellor keys stay uncertified)")
    else:
        try:
            pending = await find_pending(sessions, clock.now())
            await store_certificates(sessions, seed, pending, clock.now())
        except ServiceError as exc:  # pragma: no cover - only when sites change meanwhile
            lines.append(f"  (certificates not issued: {exc.code})")
    now = clock.now().timestamp()
    for entry in entries:
        lines.extend(_line(entry, now))
    if rotated:
        lines.append(f"  Site keys: {rotated} new version(s), sealed to every demo counsellor.")
    if skipped:
        missing = ", ".join(sorted(set(skipped)))
        lines.append(f"  (no demo counsellors for missing sites: {missing})")
    lines.append(f"  Demo organisation key: {data_dir / DEMO_ORG_KEY_FILE} "
                 f"(certify with: jmdchat certify --org-key {data_dir / DEMO_ORG_KEY_FILE})")
    return lines
