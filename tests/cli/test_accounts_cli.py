"""The operator's commands: org-key create/show, counsellor invite -> accept -> TOTP confirm ->
certify, admin create, and the demo accounts (`jmdchat demo`), through `jmdchat` itself."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.cli import main
from server.config import load_config
from server.crypto.certificates import parse_certificate, verify_certificate
from server.crypto.encoding import b64url_decode
from server.crypto.keys import derive_password_keys, unwrap_identity
from server.crypto.sites import open_site_key
from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.services.clock import SystemClock
from server.storage.db import create_engine, create_sessions
from server.storage.models import Account, SiteKey, SiteKeyBox
from server.storage.repositories import accounts as repo
from tests.account_material import add_site, material

ClientMaker = Callable[..., Awaitable[TestClient]]


class Cli:
    def __init__(self, tmp: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.capsys = capsys
        self.config_path = tmp / "config.toml"
        self.write_config("")

    def write_config(self, org_public_key: str) -> None:
        self.config_path.write_text(
            "[server]\n"
            f'data_dir = "{self.tmp}"\n'
            'public_url = "http://127.0.0.1:8080"\n'
            'log_format = "text"\n'
            "[database]\n"
            f'url = "{self.database_url}"\n'
            "[security]\n"
            f'secret_key = "cli-test-secret-{"z" * 32}"\n'
            f'org_public_key = "{org_public_key}"\n',
            encoding="utf-8",
        )

    async def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["--config", str(self.config_path), *args])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in list(__import__("os").environ):
        if name.startswith("JMDCHAT_"):
            monkeypatch.delenv(name)
    return Cli(tmp_path, sqlite_url, capsys)


async def test_org_key_create_and_show(cli: Cli) -> None:
    key_file = cli.tmp / "offline" / "org-key.json"
    code, out, _ = await cli.run("org-key", "create", "--out", str(key_file))
    assert code == 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = re.search(r"Public key: (\S+)", out)
    assert public is not None and len(b64url_decode(public.group(1), length=32)) == 32
    data = json.loads(key_file.read_text())
    assert data["public_key"] == public.group(1) and "seed" in data
    assert data["seed"] not in out  # the private key is never printed

    code, _, err = await cli.run("org-key", "create", "--out", str(key_file))
    assert code == 2 and "refusing to overwrite" in err

    code, out, _ = await cli.run("org-key", "show", "--org-key", str(key_file))
    assert code == 0 and "no organisation public key" in out and "does NOT match" in out
    cli.write_config(public.group(1))
    code, out, _ = await cli.run("org-key", "show", "--org-key", str(key_file))
    assert code == 0 and public.group(1) in out and "matches the server" in out


async def test_invite_accept_confirm_certify(
    cli: Cli, aiohttp_client: ClientMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = cli.tmp / "org-key.json"
    _, out, _ = await cli.run("org-key", "create", "--out", str(key_file))
    org_public = re.search(r"Public key: (\S+)", out).group(1)  # type: ignore[union-attr]
    cli.write_config(org_public)
    config = load_config(cli.config_path, environ={})
    engine = create_engine(config.database)
    site_id = await add_site(create_sessions(engine), "jmd-berlin", "JMD Berlin")
    await engine.dispose()

    code, out, _ = await cli.run("counsellor", "invite", "--site", "jmd-berlin", "--name", "Amira")
    assert code == 0
    link = re.search(r"http://127\.0\.0\.1:8080/#/invite/(\S+)", out)
    assert link is not None
    token = link.group(1)

    client = await aiohttp_client(create_app(config), cookie_jar=DummyCookieJar())
    response = await client.get(f"/api/invitations/{token}")
    info = await response.json()
    assert info["role"] == "counsellor" and info["site"]["slug"] == "jmd-berlin"
    m = material("amira")
    response = await client.post(f"/api/invitations/{token}/accept",
                                 json=m.accept_body("amira-berlin"))
    accepted: dict[str, Any] = await response.json()
    assert response.status == 200 and accepted["account"]["display_name"] == "Amira"
    cookie = response.cookies["jmdchat_session"].value
    secret = totp_secret_from_base32(accepted["totp_secret"])
    response = await client.post(
        "/api/auth/totp/confirm", json={"code": totp_code(secret, SystemClock().now().timestamp())},
        headers={"Cookie": f"jmdchat_session={cookie}"},
    )
    assert response.status == 200
    cookie = response.cookies["jmdchat_session"].value

    # Without --yes, certify asks; a pipe cannot answer, so it refuses.
    code, _, err = await cli.run("certify", "--org-key", str(key_file))
    assert code == 2 and "--yes" in err

    # Interactive: the operator compares the fingerprint, then answers.
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    code, out, _ = await cli.run("certify", "--org-key", str(key_file), "--pending")
    assert code == 0 and "Nothing was signed." in out
    assert accepted["account"]["fingerprint"] in out

    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    code, out, _ = await cli.run("certify", "--org-key", str(key_file), "--pending")
    assert code == 0
    assert "signed: counsellor amira-berlin (Amira), teams: jmd-berlin (new)" in out

    response = await client.get("/api/me/certificate",
                                headers={"Cookie": f"jmdchat_session={cookie}"})
    cert = json.loads(b64url_decode((await response.json())["certificate"]))
    verified = verify_certificate(
        cert, b64url_decode(org_public), int(SystemClock().now().timestamp()),
        kind="counsellor", subject=accepted["account"]["id"], site_id=site_id,
    )
    assert verified.x25519_public == m.identity.x25519_public

    code, out, _ = await cli.run("certify", "--org-key", str(key_file), "--yes")
    assert code == 0 and "Nothing was signed." in out
    code, out, _ = await cli.run("certify", "--org-key", str(key_file), "--yes",
                                 "--account", accepted["account"]["id"])
    assert code == 0 and "signed: counsellor amira-berlin" in out  # renewal on request

    other = cli.tmp / "other-key.json"
    await cli.run("org-key", "create", "--out", str(other))
    code, _, err = await cli.run("certify", "--org-key", str(other), "--yes")
    assert code == 2 and "does not match" in err


async def test_invitation_commands_refuse_what_cannot_work(cli: Cli) -> None:
    code, _, err = await cli.run("counsellor", "invite", "--site", "nowhere")
    assert code == 1 and "refused" in err
    code, out, _ = await cli.run("admin", "create", "--nickname", "Leitung Nord")
    assert code == 0 and "/#/invite/" in out and "Leitung Nord" in out
    code, _, err = await cli.run("admin", "create", "--nickname", "x")
    assert code == 1 and "refused" in err
    code, _, err = await cli.run("certify", "--org-key", str(cli.tmp / "missing.json"), "--yes")
    assert code == 2 and "cannot read" in err


# --- the demo ---------------------------------------------------------------------------------


def _logins(out: str) -> list[str]:
    """The printed login lines, without the current TOTP code (it changes every 30 s)."""
    return [re.sub(r"code right now: \d{6}", "", line) for line in out.splitlines()
            if "nickname" in line or "TOTP secret" in line or "recovery code" in line]


async def test_demo_accounts_are_real_and_idempotent(cli: Cli) -> None:
    code, first, _ = await cli.run("demo")
    assert code == 0, first
    logins_file = cli.tmp / "demo-logins.json"
    assert stat.S_IMODE(logins_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((cli.tmp / "demo-org-key.json").stat().st_mode) == 0o600
    entries = json.loads(logins_file.read_text())["accounts"]
    roles = sorted(e["role"] for e in entries)
    assert roles == ["admin", "counsellor", "counsellor", "counsellor", "site_lead",
                     "young_person"]
    sites = {e["site"] for e in entries if e["site"]}
    assert sites == {"jmd-berlin", "jmd-trier", "jmd-online"}
    assert "use any TOTP app with this secret" in first

    code, second, _ = await cli.run("demo")
    assert code == 0 and _logins(second) == _logins(first)
    assert json.loads(logins_file.read_text())["accounts"] == entries

    # Everything a browser would do works: log in as Amira with the printed password, open the
    # key blob, open the Berlin site key sealed to her and check it against its certificate.
    amira = next(e for e in entries if e["nickname"] == "amira-berlin")
    config = load_config(cli.config_path, environ={})
    org_public = b64url_decode((cli.tmp / "org-public-key").read_text().strip(), length=32)
    engine = create_engine(config.database)
    sessions = create_sessions(engine)
    try:
        async with sessions.begin() as db:
            account = await repo.get_account_by_nickname_key(db, "amira-berlin")
            assert isinstance(account, Account) and account.totp_enabled
            assert account.certificate is not None
            site = await repo.get_site_by_slug(db, "jmd-berlin")
            assert site is not None
            [key] = await repo.site_keys_of_site(db, site.id)
            assert isinstance(key, SiteKey) and key.certificate is not None
            box = await repo.get_box(db, key.id, account.id)
            assert isinstance(box, SiteKeyBox)
            members = await repo.members_of_site(db, site.id)
            assert sorted(a.nickname for a, _lead in members) == ["amira-berlin", "jonas-berlin"]
            for member, _lead in members:
                assert await repo.get_box(db, key.id, member.id) is not None
            young = await repo.get_account_by_nickname_key(db, "demo-jugendliche")
            assert young is not None and young.role == "young_person"
            assert await repo.session_ids_of_account(db, account.id) == []
            # Nothing of the logins file is in the database in the clear.
            assert amira["password"] not in repr(account.__dict__)
    finally:
        await engine.dispose()
    keys = derive_password_keys(amira["password"], account.kdf_salt, account.kdf_iterations)
    identity = unwrap_identity(account.key_blob, keys.wrap_key, "password")
    now = int(SystemClock().now().timestamp())
    verify_certificate(json.loads(account.certificate), org_public, now, kind="counsellor",
                       subject=account.id, site_id=site.id)
    site_cert = verify_certificate(json.loads(key.certificate), org_public, now, kind="site",
                                   subject=site.id)
    opened = open_site_key(box.sealed, identity.x25519_private, parse_certificate(
        json.loads(key.certificate)))
    assert opened.keys.x25519_public == site_cert.x25519_public
