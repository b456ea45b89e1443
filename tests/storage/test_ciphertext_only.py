"""The server stores ciphertext only: a whole conversation (enquiry, answers, a note, a canned
response, typing) whose plaintexts carry a sentinel string, and afterwards the sentinel is
nowhere — not in any row of any table, and not in the bytes of the SQLite files (database,
write-ahead log, shared memory). The postcode the young person typed is not stored either,
only its first two digits."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

from server.crypto.encoding import b64url_encode
from server.crypto.primitives import seal
from tests.conversation_support import (
    Client,
    World,
    encrypt,
    enquiry_payload,
    running_server,
    world_sqlite_fixture,  # noqa: F401  (fixture "world_sqlite")
)

SENTINEL = "SENTINEL-q7Zx-Geheimnis-سِرّ-7f3a9c"
POSTCODE = "54292"


def needles() -> list[bytes]:
    """The sentinel as UTF-8, UTF-16 and in base64 at every alignment (so a plaintext that was
    merely encoded, not encrypted, would be found too)."""
    raw = SENTINEL.encode("utf-8")
    found = [raw, SENTINEL.encode("utf-16-le")]
    for shift in range(3):
        chunk = base64.urlsafe_b64encode(b"\0" * shift + raw).rstrip(b"=")
        # Skip the characters that depend on the padding bytes in front.
        found.append(chunk[4 if shift else 0:][:24])
        found.append(base64.b64encode(b"\0" * shift + raw)[4 if shift else 0:][:24])
    return found


def test_the_needles_would_find_an_encoded_plaintext() -> None:
    raw = f'{{"body": "{SENTINEL}"}}'.encode()
    for prefix in (b"", b"a", b"ab"):
        assert any(n in base64.urlsafe_b64encode(prefix + raw) for n in needles())
        assert any(n in base64.b64encode(prefix + raw) for n in needles())


async def test_no_plaintext_anywhere_in_the_database(world_sqlite: tuple[str, World]) -> None:
    url, world = world_sqlite
    async with running_server(url) as srv:
        young = await Client(world.young).connect(srv.url)
        counsellor = await Client(world.local_counsellor).connect(srv.url)
        payload, conv = enquiry_payload(
            world, world.young, f"Hilfe! {SENTINEL}", site_key=world.local_key,
            location=POSTCODE,
        )
        created = await young.call("enquiry.create", payload)
        assert created["ok"] and created["conversation"]["site"]["id"] == world.local_site
        assert (await counsellor.call("conversation.claim", {"conversation_id": conv.id}))["ok"]
        for n in range(3):
            for who, client in ((world.local_counsellor, counsellor), (world.young, young)):
                ack = await client.call("message.send", {
                    "conversation_id": conv.id,
                    "envelope": encrypt(who, conv, f"{n}: {SENTINEL} von {who.nickname}"),
                })
                assert ack["ok"], ack
        sealed = b64url_encode(seal(world.local_key.keys.x25519_public,
                                    SENTINEL.encode(), b"note"))
        assert (await counsellor.call("note.add", {"conversation_id": conv.id,
                                                   "sealed_note": sealed,
                                                   "site_key_version": 1}))["ok"]
        assert (await counsellor.call("canned.save", {"language": "de", "sealed": sealed}))["ok"]
        assert (await young.call("typing", {"conversation_id": conv.id, "active": True}))["ok"]
        assert (await young.call("message.read", {"conversation_id": conv.id, "seq": 3}))["ok"]
        await young.close()
        await counsellor.close()

    path = Path(url.split(":///", 1)[1])
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert path in files
    for file in files:  # conv.db, conv.db-wal, conv.db-shm
        data = file.read_bytes()
        for needle in needles():
            assert needle not in data, (file.name, needle)

    connection = sqlite3.connect(path)
    try:
        tables = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"messages", "conversations", "conversation_notes", "canned_responses"} <= set(
            tables)
        rows_seen = 0
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                rows_seen += 1
                for value in row:
                    text = value if isinstance(value, bytes) else str(value).encode()
                    for needle in needles():
                        assert needle not in text, (table, needle)
                    if table in ("conversations", "audit_events", "messages"):
                        assert POSTCODE.encode() not in text, table
        assert rows_seen > 20
        prefixes = connection.execute(
            "SELECT postcode_prefix FROM conversations WHERE id = ?", (conv.id,)).fetchall()
        assert prefixes == [("54",)]
        stored = connection.execute(
            "SELECT count(*) FROM messages WHERE conversation_id = ?", (conv.id,)).fetchone()
        assert stored == (8,)  # enquiry, claimed, 6 messages — typing is never stored
    finally:
        connection.close()
