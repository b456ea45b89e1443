"""Operator commands for accounts and keys.

    jmdchat org-key create --out FILE      new organisation key (private file, 0600); prints the
                                           public key for `security.org_public_key`
    jmdchat org-key show [--org-key FILE]  the server's organisation public key (and a file's)
    jmdchat counsellor invite --site SLUG [--lead] [--name NAME]
                                           one-time invitation link for a counsellor / site lead
    jmdchat admin create --nickname NICK [--name NAME]
                                           one-time invitation link for an administrator
    jmdchat certify --org-key FILE [--pending | --account ID | --site SLUG] [--days N] [--yes]
                                           sign counsellors' and sites' public keys after
                                           comparing fingerprints

The organisation key file is the operator's and should live offline (an encrypted USB stick,
a separate machine); the server only ever needs its public half. Output is for the operator, in
English; messages from the services are shown in the configured default locale.
Exit codes: 0 done, 1 refused (shown why), 2 usage or key file problems.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from server.cli.common import config_from, run_with_sessions
from server.config import AppConfig
from server.crypto import primitives as prim
from server.crypto.encoding import b64url_encode
from server.crypto.keys import key_id
from server.i18n import get_translator
from server.services.accounts import Accounts, CreatedInvitation
from server.services.clock import SystemClock
from server.services.errors import ServiceError
from server.services.rate_limit import SourceLimiter
from server.services.site_keys import (
    DEFAULT_CERT_DAYS,
    OrgKeyError,
    PendingCertificate,
    check_org_key_matches,
    find_pending,
    org_public_key,
    read_org_key_file,
    store_certificates,
    write_org_key_file,
)
from server.storage.db import Sessions
from server.storage.models.accounts import ROLE_ADMIN, ROLE_COUNSELLOR, ROLE_SITE_LEAD


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    org = sub.add_parser("org-key", help="the organisation key that certifies counsellor keys")
    org_actions = org.add_subparsers(dest="org_key_command", required=True)
    create = org_actions.add_parser("create", help="create a new organisation key file")
    create.add_argument("--out", required=True, help="file for the PRIVATE key (kept offline)")
    create.set_defaults(func=org_key_create)
    show = org_actions.add_parser("show", help="show the organisation public key")
    show.add_argument("--org-key", default=None, help="also show this key file's public key")
    show.set_defaults(func=org_key_show)

    counsellor = sub.add_parser("counsellor", help="counsellor accounts")
    c_actions = counsellor.add_subparsers(dest="counsellor_command", required=True)
    invite = c_actions.add_parser("invite", help="print a one-time invitation link")
    invite.add_argument("--site", required=True, help="site slug, e.g. jmd-berlin")
    invite.add_argument("--lead", action="store_true", help="invite as site lead")
    invite.add_argument("--name", default="", help="display name shown to young people")
    invite.set_defaults(func=counsellor_invite)

    admin = sub.add_parser("admin", help="administrator accounts")
    a_actions = admin.add_subparsers(dest="admin_command", required=True)
    admin_create = a_actions.add_parser("create", help="print a one-time admin invitation link")
    admin_create.add_argument("--nickname", required=True, help="the admin's nickname")
    admin_create.add_argument("--name", default="", help="display name")
    admin_create.set_defaults(func=admin_create_invite)

    certify = sub.add_parser(
        "certify", help="sign counsellors' and sites' public keys with the organisation key"
    )
    certify.add_argument("--org-key", required=True, help="the organisation key file")
    which = certify.add_mutually_exclusive_group()
    which.add_argument("--pending", action="store_true",
                       help="everything waiting for a certificate (default)")
    which.add_argument("--account", default=None, help="one counsellor (account id)")
    which.add_argument("--site", default=None, help="the newest key of one site (slug)")
    certify.add_argument("--days", type=int, default=DEFAULT_CERT_DAYS,
                         help=f"validity in days (default {DEFAULT_CERT_DAYS})")
    certify.add_argument("--yes", action="store_true",
                         help="do not ask: the fingerprints were compared beforehand")
    certify.set_defaults(func=run_certify)


def _service(config: AppConfig, sessions: Sessions) -> Accounts:
    return Accounts(sessions, config, SystemClock(), SourceLimiter())


def _refused(config: AppConfig, exc: ServiceError) -> int:
    translator = get_translator(config.i18n.default_locale)
    print(f"refused: {translator.gettext(exc.message, **exc.params)}", file=sys.stderr)
    return 1


def invitation_link(config: AppConfig, token: str) -> str:
    return f"{config.server.public_url}/#/invite/{token}"


# --- org-key ----------------------------------------------------------------------------------


def org_key_create(args: argparse.Namespace) -> int:
    path = Path(args.out)
    if path.exists():
        print(f"{path} exists; refusing to overwrite an organisation key", file=sys.stderr)
        return 2
    seed = prim.random_bytes(32)
    try:
        write_org_key_file(path, seed)
    except OSError as exc:
        print(f"cannot write {path}: {exc}", file=sys.stderr)
        return 2
    public = prim.ed25519_public(seed)
    print(f"Organisation key written to {path} (readable only by you). Keep it offline and")
    print("make a backup: without it no counsellor or site key can be certified.")
    print(f"Public key: {b64url_encode(public)}")
    print(f"Key id:     {key_id('ed25519', public)}")
    print("Configure the server with it:")
    print(f'  [security] org_public_key = "{b64url_encode(public)}"')
    print(f"  or JMDCHAT_SECURITY_ORG_PUBLIC_KEY={b64url_encode(public)}")
    return 0


def org_key_show(args: argparse.Namespace) -> int:
    config = config_from(args)
    configured = org_public_key(config)
    if configured is None:
        print("The server has no organisation public key (security.org_public_key is empty).")
    else:
        print(f"Server's organisation public key: {b64url_encode(configured)}")
        print(f"Key id: {key_id('ed25519', configured)}")
    if args.org_key:
        try:
            seed = read_org_key_file(Path(args.org_key))
        except OrgKeyError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        public = prim.ed25519_public(seed)
        same = configured is not None and prim.constant_time_equal(public, configured)
        print(f"{args.org_key}: public key {b64url_encode(public)} "
              f"({'matches the server' if same else 'does NOT match the server'})")
    return 0


# --- invitations ------------------------------------------------------------------------------


def _print_invitation(config: AppConfig, created: CreatedInvitation, who: str) -> None:
    expires = created.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"One-time invitation for {who} (valid until {expires}):")
    print(invitation_link(config, created.token))
    print("Send it over a trusted channel. After the person has set up their account and")
    print("two-factor sign-in, compare their key fingerprint with them and run `jmdchat certify`.")


def counsellor_invite(args: argparse.Namespace) -> int:
    config = config_from(args)
    role = ROLE_SITE_LEAD if args.lead else ROLE_COUNSELLOR
    try:
        created = run_with_sessions(
            config,
            lambda sessions: _service(config, sessions).create_invitation(
                role, args.site, args.name
            ),
        )
    except ServiceError as exc:
        return _refused(config, exc)
    _print_invitation(config, created, f"a {'site lead' if args.lead else 'counsellor'} "
                      f"of {args.site}")
    return 0


def admin_create_invite(args: argparse.Namespace) -> int:
    config = config_from(args)
    try:
        created = run_with_sessions(
            config,
            lambda sessions: _service(config, sessions).create_invitation(
                ROLE_ADMIN, None, args.name, nickname=args.nickname
            ),
        )
    except ServiceError as exc:
        return _refused(config, exc)
    _print_invitation(config, created, f"the administrator {args.nickname}")
    return 0


# --- certify ----------------------------------------------------------------------------------


def describe(item: PendingCertificate) -> str:
    what = "counsellor" if item.kind == "counsellor" else f"site key v{item.key_version}"
    return f"{what} {item.label}, teams: {', '.join(item.site_slugs)} ({item.reason})"


def _confirm(item: PendingCertificate) -> bool:
    answer = input("Fingerprint compared and correct? Sign it [y/N] ")
    return answer.strip().lower() in ("y", "yes", "j", "ja")


def run_certify(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.days < 1 or args.days > 366:
        print("--days must be between 1 and 366", file=sys.stderr)
        return 2
    try:
        seed = read_org_key_file(Path(args.org_key))
        check_org_key_matches(config, seed)
    except OrgKeyError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not args.yes and not sys.stdin.isatty():
        print("certify compares fingerprints interactively; pass --yes if they were compared "
              "beforehand", file=sys.stderr)
        return 2
    clock = SystemClock()

    async def work(sessions: Sessions) -> list[tuple[PendingCertificate, dict[str, object]]]:
        items = await find_pending(
            sessions, clock.now(), account_id=args.account, site_slug=args.site
        )
        chosen: list[PendingCertificate] = []
        for item in items:
            print(describe(item))
            print(f"  fingerprint: {item.fingerprint}")
            if args.yes or _confirm(item):
                chosen.append(item)
        signed = await store_certificates(sessions, seed, chosen, clock.now(), args.days)
        return list(zip(chosen, signed, strict=True))

    try:
        results = run_with_sessions(config, work)
    except ServiceError as exc:
        return _refused(config, exc)
    if not results:
        print("Nothing was signed.")
    _announce_site_keys(config, [item for item, _cert in results])
    for item, cert in results:
        print(f"signed: {describe(item)}; valid until "
              f"{_utc(int(str(cert['exp'])))}")
    return 0


def _announce_site_keys(config: AppConfig, items: list[PendingCertificate]) -> None:
    """Issue #3: tell the teams' open browsers that a site key version is certified."""
    from server.services.key_freshness import keys_changed
    from server.transport.socket.external import publish

    notices = [keys_changed(i.subject, i.key_version) for i in items if i.kind == "site"]
    if notices:
        asyncio.run(publish(config, notices))


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
