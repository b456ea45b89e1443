"""Chat rounds in the browser (issue #9): a counsellor (demo account of JMD Trier) schedules a
round in the schedule form and opens it; three young people, each in a browser context of
their own, find it in "Chat rounds" (their language), accept the chat rules and join; the
counsellor's page admits them by handing out new group keys. They talk — every message is
encrypted in one browser and decrypted in the others. Then one leaves: the counsellor's page
makes the next epoch without her, the others go on, and the leaver's page gets nothing new.
Screenshots of the counsellor's and a young person's screen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.accounts_support import (
    SLOW_MS,
    axe_violations,
    demo_logins,
    login_ui,
    register_api,
    strong_password,
    unique_nickname,
)
from tests.browser.test_conversation_e2e import counsellor_login, device
from tests.conftest import LiveServer, axe_source, screenshot_path

pytestmark = pytest.mark.browser

LIVE_MS = 30_000

HELLO = "Hallo zusammen! Ich suche einen Ausbildungsplatz als Mechatroniker."
WELCOME = "Willkommen in der Runde! Erzählt gern, wo ihr gerade steht."
ARABIC = "مرحبا، أنا أبحث عن تدريب مهني في مجال التمريض"
AFTER = "Schade, dass Mira weg ist. Wir machen weiter."

TEXTS = """() => [...document.querySelectorAll(
    '.round-log .round-msg:not(.system) .round-msg-body')].map((el) => el.textContent)"""
HAS_TEXT = """(t) => [...document.querySelectorAll('.round-log .round-msg-body')]
  .some((el) => el.textContent === t)"""
EPOCH_OF = """(t) => [...document.querySelectorAll('.round-log .round-msg')]
  .find((li) => li.querySelector('.round-msg-body')?.textContent === t)?.dataset.epoch"""


def wait_text(page: Any, text: str, timeout: int = LIVE_MS) -> None:
    page.wait_for_function(HAS_TEXT, arg=text, timeout=timeout)


def can_send(page: Any) -> None:
    page.wait_for_selector(".round-composer:not([hidden]) button[type=submit]:not([disabled])",
                           timeout=LIVE_MS)


def send(page: Any, text: str) -> None:
    can_send(page)
    page.fill("#round-input", text)
    page.click(".round-composer button[type=submit]")
    wait_text(page, text)


def test_three_young_people_and_a_counsellor_rekey_on_leave(
    browser: Any, live_server: LiveServer
) -> None:
    lena = next(a for a in demo_logins(live_server) if a["nickname"] == "lena-trier")
    people = []
    for name in ("Mira", "Sami", "Noor"):
        nickname = unique_nickname(name.lower())
        password = strong_password()
        register_api(live_server, nickname, password, locale="de")
        people.append((nickname, password))
    staff_ctx, staff = device(browser, live_server, "de")
    young = [device(browser, live_server, "de") for _ in people]
    try:
        # --- the counsellor schedules a round (open now) and opens it --------------------------
        counsellor_login(staff, live_server, lena)
        round_id = schedule_and_open(staff, live_server, 3)

        # --- three young people find it in their language, accept the rules and join -----------
        for (nickname, password), (_ctx, page) in zip(people, young, strict=True):
            login_ui(page, live_server, nickname, password)
            page.goto(f"{live_server.url}/#/rounds")
            page.wait_for_selector(f".round-item[data-round-id='{round_id}']", timeout=LIVE_MS)
            if nickname == people[0][0]:
                page.screenshot(path=str(screenshot_path("round-list.png")), full_page=True)
                assert axe_violations(page, axe_source()) == []
            page.click(f".round-item[data-round-id='{round_id}'] a")
            page.wait_for_selector(".round-rules:not([hidden])", timeout=LIVE_MS)
            join = page.locator(".round-rules button")
            assert join.is_disabled(), "joining must need the accepted rules"
            page.check("#round-rules-accept")
            join.click()
            # The counsellor's page seals the next epoch to them: they can write.
            can_send(page)
            staff.wait_for_selector(f".round-member:has-text('{nickname}')", timeout=LIVE_MS)

        mira, sami, noor = (page for _ctx, page in young)
        # Nicknames only: the pages never show account ids (the members carry member ids).
        assert people[1][0] in mira.inner_text(".round-members")
        assert mira.locator(".round-member[data-role=counsellor]").count() >= 1

        # --- they talk: encrypted in one browser, decrypted in all others ---------------------
        send(sami, HELLO)
        send(staff, WELCOME)
        send(noor, ARABIC)
        for page in (staff, mira, sami, noor):
            for text in (HELLO, WELCOME, ARABIC):
                wait_text(page, text)
        assert mira.evaluate(
            """(t) => [...document.querySelectorAll('.round-log .round-msg')]
                .find((li) => li.querySelector('.round-msg-body')?.textContent === t)
                ?.querySelector('.round-msg-body').getAttribute('dir')""", ARABIC) == "rtl"
        before_epoch = int(staff.evaluate(EPOCH_OF, HELLO))

        # --- the counsellor mutes Noor: a neutral notice, no sending; then allows it again ------
        noor_item = f".round-member:has(.round-member-name:text-is('{people[2][0]}'))"
        staff.click(f"{noor_item} button:first-of-type")
        noor.wait_for_selector(".round-notice:not([hidden])", timeout=LIVE_MS)
        noor.wait_for_selector(".round-composer button[type=submit][disabled]", timeout=LIVE_MS)
        staff.wait_for_selector(f"{noor_item} .round-member-tags", timeout=LIVE_MS)
        staff.click(f"{noor_item} button:first-of-type")
        can_send(noor)
        mira.screenshot(path=str(screenshot_path("round-young-person.png")), full_page=True)
        assert axe_violations(mira, axe_source()) == []
        assert axe_violations(staff, axe_source()) == []

        # --- Mira leaves; the counsellor's page makes a new epoch without her ----------------
        mira_texts = mira.evaluate(TEXTS)
        mira.click("button.round-leave")
        mira.wait_for_selector(".round-composer", state="hidden", timeout=LIVE_MS)
        staff.wait_for_function(
            "(n) => ![...document.querySelectorAll('.round-member-name')]"
            ".some((el) => el.textContent === n)", arg=people[0][0], timeout=LIVE_MS)
        # Sending is possible again once the new key is there.
        send(sami, AFTER)
        wait_text(staff, AFTER)
        wait_text(noor, AFTER)
        after_epoch = int(staff.evaluate(EPOCH_OF, AFTER))
        assert after_epoch > before_epoch, "leaving must lead to a new epoch"
        assert int(noor.evaluate(EPOCH_OF, AFTER)) == after_epoch
        # The leaver's page receives nothing new (and holds no key for the new epoch).
        assert mira.evaluate(TEXTS) == mira_texts
        assert not mira.evaluate(HAS_TEXT, AFTER)
        staff.screenshot(path=str(screenshot_path("round-counsellor.png")), full_page=True)
        for _ctx, page in young:
            assert page.errors == [], page.errors
        assert staff.errors == [], staff.errors
    finally:
        staff_ctx.close()
        for ctx, _page in young:
            ctx.close()


def schedule_and_open(staff: Any, live_server: LiveServer, max_participants: int) -> str:
    """In the counsellor's page: schedule a German round that started a minute ago, open it;
    returns its id."""
    staff.goto(f"{live_server.url}/#/rounds")
    staff.wait_for_selector("form.round-schedule", timeout=SLOW_MS)
    topic = f"Ausbildung finden {unique_nickname('r')}"
    staff.fill("#round-topic", topic)
    staff.select_option("#round-language", "de")
    staff.evaluate("""() => {
      const d = new Date(Date.now() - 60000);
      const p = (n) => String(n).padStart(2, '0');
      document.querySelector('#round-start').value =
        `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}` +
        `T${p(d.getHours())}:${p(d.getMinutes())}`;
    }""")
    staff.fill("#round-max", str(max_participants))
    staff.click("form.round-schedule button[type=submit]")
    item = staff.wait_for_selector(f".round-item:has-text('{topic}')", timeout=LIVE_MS)
    round_id = str(item.get_attribute("data-round-id"))
    staff.click(f".round-item[data-round-id='{round_id}'] a")
    staff.wait_for_selector(".round-members-box:not([hidden])", timeout=LIVE_MS)
    return round_id


def join_round(page: Any, live_server: LiveServer, round_id: str, nickname: str,
               password: str) -> None:
    login_ui(page, live_server, nickname, password)
    page.goto(f"{live_server.url}/#/rounds")
    page.wait_for_selector(f".round-item[data-round-id='{round_id}']", timeout=LIVE_MS)
    page.click(f".round-item[data-round-id='{round_id}'] a")
    page.wait_for_selector(".round-rules:not([hidden])", timeout=LIVE_MS)
    page.check("#round-rules-accept")
    page.click(".round-rules button")


def _round_epoch(live_server: LiveServer, round_id: str) -> int:
    import sqlite3

    path = live_server.env["JMDCHAT_DATABASE_URL"].split(":///", 1)[1]
    with sqlite3.connect(path, timeout=30) as db:
        row = db.execute("SELECT current_epoch FROM chat_rounds WHERE id = ?",
                         (round_id,)).fetchone()
    return int(row[0])


def _replace_keys(live_server: LiveServer, nickname: str) -> None:
    """What a compromised server could do: list other public keys for an account."""
    import sqlite3

    from server.crypto.keys import generate_identity

    forged = generate_identity()
    path = live_server.env["JMDCHAT_DATABASE_URL"].split(":///", 1)[1]
    with sqlite3.connect(path, timeout=30) as db:
        changed = db.execute(
            "UPDATE accounts SET x25519_public = ?, ed25519_public = ? WHERE nickname = ?",
            (forged.x25519_public, forged.ed25519_public, nickname)).rowcount
    assert changed == 1


def test_changed_key_of_a_participant_is_not_accepted_silently(
    browser: Any, live_server: LiveServer
) -> None:
    """Trust on first use in rounds (docs/protocol.md 8.6): the counsellor's page pins a young
    person's keys when it first sees them. When the server later lists other keys for her, the
    page warns, keeps verifying her messages with the pinned key, and seals no new epoch (a
    newcomer stays waiting) until the counsellor decides to trust the new key."""
    sami = next(a for a in demo_logins(live_server) if a["nickname"] == "sami-online")
    people = []
    for name in ("Mira", "Noor"):
        nickname = unique_nickname(name.lower())
        password = strong_password()
        register_api(live_server, nickname, password, locale="de")
        people.append((nickname, password))
    staff_ctx, staff = device(browser, live_server, "de")
    staff.on("dialog", lambda dialog: dialog.accept())
    (mira_ctx, mira), (noor_ctx, noor) = (device(browser, live_server, "de") for _ in people)
    try:
        counsellor_login(staff, live_server, sami)
        round_id = schedule_and_open(staff, live_server, 3)
        join_round(mira, live_server, round_id, *people[0])
        can_send(mira)  # the counsellor's page pinned her keys and admitted her
        send(mira, HELLO)
        wait_text(staff, HELLO)
        epoch = _round_epoch(live_server, round_id)

        # The server now lists other keys for Mira; Noor's joining sends the member list.
        _replace_keys(live_server, people[0][0])
        join_round(noor, live_server, round_id, *people[1])
        mira_warning = f".round-key-warning:has-text('{people[0][0]}')"
        staff.wait_for_selector(mira_warning, timeout=LIVE_MS)
        staff.wait_for_selector(
            f".round-member:has-text('{people[1][0]}') .round-tag", timeout=LIVE_MS)
        assert staff.locator(f"{mira_warning} button.round-trust-key").count() == 1
        noor.wait_for_selector(".round-notice:not([hidden])", timeout=LIVE_MS)
        # Mira's device still signs with her real key: her page's messages verify against the
        # pinned key and are shown.
        send(mira, WELCOME)
        wait_text(staff, WELCOME)
        # No epoch for the changed keys (and so none for Noor) while nobody decided.
        with pytest.raises(PlaywrightTimeout):
            noor.wait_for_selector(
                ".round-composer:not([hidden]) button[type=submit]:not([disabled])", timeout=2_000)
        assert _round_epoch(live_server, round_id) == epoch
        staff.screenshot(path=str(screenshot_path("round-key-changed.png")), full_page=True)
        assert axe_violations(staff, axe_source()) == []

        # The counsellor trusts the new key: the page seals the next epoch, Noor is admitted.
        staff.click(f"{mira_warning} button.round-trust-key")
        staff.wait_for_selector(".round-key-warnings", state="hidden", timeout=LIVE_MS)
        can_send(noor)
        assert _round_epoch(live_server, round_id) == epoch + 1
        for page in (staff, mira, noor):
            assert page.errors == [], page.errors
    finally:
        for ctx in (staff_ctx, mira_ctx, noor_ctx):
            ctx.close()


ROUND_INTEROP_JS = """
async ({ args }) => {
  const m = await import("/static/src/crypto/protocol.js");
  const r = await import("/static/src/rounds/crypto.js");
  const u = (s) => m.b64urlDecode(s);
  const me = await m.importKeyPairs(u(args.x), u(args.ed));
  const pyEd = u(args.pyEd);
  const resolve = async (member) => (member === args.pyMember ? pyEd : null);
  const opened = await r.openRoundEnvelope(args.envelope, {
    roundId: args.round, epochKeys: new Map([[1, u(args.key)]]), resolveSigningKey: resolve });
  const share = await r.openRoundKey(args.share, {
    roundId: args.round, recipient: me, resolveSigningKey: resolve });
  const fromJs = await r.encryptRoundMessage({ roundId: args.round, epoch: 1,
    epochKey: u(args.key), memberId: args.jsMember, signer: me,
    message: { type: "text", body: "aus dem Browser", sent_at: 7 } });
  const jsShare = await r.sealRoundKey({ roundId: args.round, epoch: 2, key: u(args.key),
    recipientX25519Public: u(args.pyX), memberId: args.jsMember, signer: me });
  let asConversation = null;
  try {
    await m.openEnvelope(args.envelope, { conversationId: args.round,
      epochKeys: new Map([[1, u(args.key)]]), resolveSigningKey: resolve });
  } catch (error) { asConversation = error.code; }
  return { body: opened.message.body, shareEpoch: share.epoch, fromJs, jsShare, asConversation };
}
"""


def test_round_crypto_interoperates_with_python(live_server: LiveServer, page: Any) -> None:
    """Python (server/crypto/rounds.py) and the browser (client/src/rounds/crypto.js) agree on
    the round labels: each opens what the other made; a round envelope is no 1:1 message."""
    import uuid

    from server.crypto.conversation import new_conversation_key
    from server.crypto.encoding import b64url_encode
    from server.crypto.keys import KeyPairs, generate_identity
    from server.crypto.primitives import random_bytes
    from server.crypto.rounds import (
        encrypt_round_message,
        open_round_envelope,
        open_round_key,
        seal_round_key,
    )

    page.goto(live_server.url + "/")
    py = generate_identity()
    js_x, js_ed = random_bytes(32), random_bytes(32)
    js = KeyPairs.from_private(js_x, js_ed)
    round_id, py_member, js_member = (str(uuid.uuid4()) for _ in range(3))
    key = new_conversation_key()
    args = {
        "x": b64url_encode(js_x), "ed": b64url_encode(js_ed), "round": round_id,
        "pyMember": py_member, "jsMember": js_member, "key": b64url_encode(key),
        "pyEd": b64url_encode(py.ed25519_public), "pyX": b64url_encode(py.x25519_public),
        "envelope": encrypt_round_message(
            round_id=round_id, epoch=1, epoch_key=key, sender_member_id=py_member, signer=py,
            message={"type": "text", "body": "aus Python", "sent_at": 1}),
        "share": seal_round_key(round_id=round_id, epoch=1, key=key,
                                recipient_x25519_public=js.x25519_public,
                                sender_member_id=py_member, signer=py),
    }
    out = page.evaluate(ROUND_INTEROP_JS, {"args": args})
    assert out["body"] == "aus Python" and out["shareEpoch"] == 1
    assert out["asConversation"] == "bad_signature"

    def resolve(member: str, _skid: str) -> bytes | None:
        return js.ed25519_public if member == js_member else None

    opened = open_round_envelope(out["fromJs"], round_id=round_id, epoch_keys={1: key},
                                 resolve_signing_key=resolve)
    assert opened.message["body"] == "aus dem Browser"
    assert open_round_key(out["jsShare"], round_id=round_id,
                          recipient_x25519_private=py.x25519_private,
                          resolve_signing_key=resolve).key == key
