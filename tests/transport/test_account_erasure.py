""""Delete my account" erases the young person's conversations (GDPR Art. 17), end to end on a
real server (SQLite and PostgreSQL): a young person registered over HTTP writes two enquiries
over socket.io (one with a postcode); a counsellor takes one, answers, writes a note and marks
it urgent; the other stays in the queue. `DELETE /api/account` then leaves:

* no row anywhere that contains the young person's id, nickname, keys, any ciphertext of the
  conversation (theirs or the counsellor's), the note, or the unanswered enquiry's id;
* for the counsellor a closed, empty shell ("account deleted": `young_person` null) whose only
  message is the `account_deleted` system event, told live to their open screen;
* the unanswered enquiry gone from the queue, told live to the site's counsellors.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from server.keys import SESSIONS
from server.storage.models import Conversation
from tests.account_material import b64, material
from tests.conversation_support import (
    Client,
    Person,
    World,
    encrypt,
    enquiry_payload,
    running_server,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
)

COOKIE = "jmdchat_session"
NOTE = "Tk9URS1TRU5USU5FTC1kby1ub3Qta2VlcA"  # base64url of a sentinel, as a sealed note


async def rows_containing(url: str, needles: dict[str, bytes]) -> list[str]:
    """Every "needle name @ table.column" whose value contains a needle (bytes, or its text)."""
    found: list[str] = []
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
            for table in tables:
                result = await connection.execute(text(f'SELECT * FROM "{table}"'))
                for row in result.mappings():
                    for column, value in row.items():
                        if value is None:
                            continue
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        for name, needle in needles.items():
                            if needle in raw or needle.lower() in raw.lower():
                                found.append(f"{name} @ {table}.{column}")
    finally:
        await engine.dispose()
    return found


async def register(url: str, nickname: str) -> tuple[Person, str]:
    """A young person registers over HTTP, as the browser does."""
    m = material("erasure-young")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        response = await http.post(url + "/api/auth/register", json=m.register_body(nickname))
        body = await response.json()
        assert response.status == 201, body
        token = response.cookies[COOKIE].value
    return Person(body["account"]["id"], nickname, "young_person", token, m.identity), token


async def delete_account(url: str, token: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        response = await http.delete(
            url + "/api/account", json={"auth_key": b64(material("erasure-young").auth_key)},
            headers={"Cookie": f"{COOKIE}={token}"},
        )
        assert response.status == 200, await response.text()


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["ok"] is True, answer
    return answer


async def test_deleting_the_account_erases_the_conversations(
    world_db: tuple[str, World],
) -> None:
    url, world = world_db
    async with running_server(url) as server:
        young, token = await register(server.url, "Erasure Test")
        you = await Client(young).connect(server.url)
        counsellor = await Client(world.local_counsellor).connect(server.url)
        online = await Client(world.counsellor).connect(server.url)
        try:
            # Two enquiries: one to Trier (with a postcode), one to the online team.
            payload, conv = enquiry_payload(world, young, "Ich brauche Hilfe (sentinel)",
                                            site_key=world.local_key, location="54290")
            first = ok(await you.call("enquiry.create", payload))["conversation"]
            assert first["site"]["id"] == world.local_site
            waiting_payload, waiting = enquiry_payload(world, young, "Noch eine Frage")
            ok(await you.call("enquiry.create", waiting_payload))
            await online.wait_for("queue.added",
                                  lambda e: e["item"]["conversation_id"] == waiting.id)

            # The counsellor takes the first, answers, notes, marks it urgent.
            ok(await counsellor.call("conversation.claim", {"conversation_id": conv.id}))
            answer = encrypt(world.local_counsellor, conv, "Antwort der Beraterin (sentinel)")
            ok(await counsellor.call("message.send",
                                     {"conversation_id": conv.id, "envelope": answer}))
            mine = encrypt(young, conv, "Danke (sentinel)")
            ok(await you.call("message.send", {"conversation_id": conv.id, "envelope": mine}))
            ok(await counsellor.call("note.add", {"conversation_id": conv.id,
                                                  "sealed_note": NOTE, "site_key_version": 1}))
            ok(await counsellor.call("conversation.urgent",
                                     {"conversation_id": conv.id, "urgent": True}))
            async with server.app[SESSIONS].begin() as db:
                stored = await db.get(Conversation, conv.id)
                assert stored is not None and stored.postcode_prefix == "54"

            ciphertexts = {
                f"ct{n}": envelope["ct"].encode()
                for n, envelope in enumerate([payload["first_message"], answer, mine,
                                              waiting_payload["first_message"]])
            }
            shares = {f"share{n}": share["sealed"]["box"].encode()
                      for n, share in enumerate(payload["epoch_keys"])}

            await delete_account(server.url, token)

            # Live: the counsellor's screen shows the shell, the queue loses the other one.
            updated = await counsellor.wait_for(
                "conversation.updated",
                lambda e: e["conversation"]["id"] == conv.id
                and e["conversation"]["young_person"] is None,
            )
            assert updated["conversation"]["status"] == "closed"
            event = await counsellor.wait_for(
                "message.new", lambda e: e["conversation_id"] == conv.id
                and (e["message"].get("system") or {}).get("code") == "account_deleted",
            )
            assert event["message"]["envelope"] is None
            removed = await online.wait_for("queue.removed",
                                            lambda e: e["conversation_id"] == waiting.id)
            assert removed["reason"] == "closed"

            # The shell: closed, no young person, no content, only the system event.
            joined = ok(await counsellor.call("conversation.join",
                                              {"conversation_id": conv.id, "after_seq": 0}))
            assert joined["conversation"]["young_person"] is None
            assert joined["conversation"]["status"] == "closed"
            assert joined["keys"] == []
            assert [m["system"]["code"] for m in joined["messages"]] == ["account_deleted"]
            assert all(m["kind"] == "system" for m in joined["messages"])
            assert ok(await counsellor.call("note.list",
                                            {"conversation_id": conv.id}))["notes"] == []
            listed = ok(await counsellor.call("conversation.list", {}))["items"]
            assert [c["id"] for c in listed if c["id"] in (conv.id, waiting.id)] == [conv.id]
            assert ok(await online.call("queue.list", {}))["items"] == []
            async with server.app[SESSIONS].begin() as db:
                shell = await db.get(Conversation, conv.id)
                assert shell is not None
                assert (shell.urgent, shell.postcode_prefix) == (False, None)
                assert shell.route_reason["params"] == {}
                gone = await db.execute(select(Conversation.id).where(
                    Conversation.id == waiting.id))
                assert gone.first() is None
        finally:
            for client in (you, counsellor, online):
                await client.close()

    needles = {
        "account id": young.id.encode(),
        "nickname": b"Erasure Test",
        "x25519 public key": young.keys.x25519_public,
        "ed25519 public key": young.keys.ed25519_public,
        "x25519 public key (text)": b64(young.keys.x25519_public).encode(),
        "key blob": material("erasure-young").key_blob,
        "note": NOTE.encode(),
        "unanswered enquiry": waiting.id.encode(),
        **ciphertexts,
        **shares,
    }
    assert await rows_containing(url, needles) == []
