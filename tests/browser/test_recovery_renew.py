"""A new recovery code from the account screen (issue #3): register, make a new code with the
current password, log out; on a fresh device the old code is refused and the new one recovers
the same keys."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.accounts_support import (
    SLOW_MS,
    goto,
    logout_ui,
    new_page,
    register_ui,
    shown_fingerprint,
    strong_password,
    unique_nickname,
    wait_for_landing,
)
from tests.conftest import LiveServer, screenshot_path

pytestmark = pytest.mark.browser

RECOVERY_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){6}$")


def start_recovery(page: Any, live_server: LiveServer, nickname: str, code: str) -> None:
    goto(page, live_server, "/recover")
    page.fill("input[name=nickname]", nickname)
    page.fill("input[name=recovery-code]", code)
    page.click("form button[type=submit]")


def test_new_recovery_code_replaces_the_old_one(
    browser: Any, live_server: LiveServer
) -> None:
    nickname, password = unique_nickname("renew"), strong_password()
    first = new_page(browser, live_server)
    try:
        old_code = register_ui(first, live_server, nickname, password)
        original = shown_fingerprint(first, live_server)
        form = first.locator("form[data-form=renew-recovery]")

        # A wrong password is refused and nothing changes.
        form.locator("input[name=renew-password]").fill(password + "x")
        form.locator("button[type=submit]").click()
        form.locator("input[name=renew-password][aria-invalid=true]").wait_for(timeout=SLOW_MS)
        assert form.locator(".form-alert").inner_text().strip()

        form.locator("input[name=renew-password]").fill(password)
        form.locator("button[type=submit]").click()
        shown = first.wait_for_selector("[data-testid=recovery-code]", timeout=SLOW_MS)
        new_code = str(shown.get_attribute("data-code"))
        assert RECOVERY_CODE.match(new_code) and new_code != old_code
        assert first.locator(".recovery-replaced").inner_text().strip()
        first.screenshot(path=str(screenshot_path("recovery-renew-sheet.png")))
        # The sheet is shown once; "continue" needs the tick, then the account screen is back.
        first.check("input[name=recovery-saved]")
        first.click("form.recovery-confirm button[type=submit]")
        first.wait_for_selector("form[data-form=renew-recovery]", timeout=SLOW_MS)
        assert not first.locator("[data-testid=recovery-code]").count()
        logout_ui(first, live_server)
        assert not first.errors
    finally:
        first.context.close()

    device = new_page(browser, live_server)
    try:
        # The old code no longer works (the uniform recovery error).
        start_recovery(device, live_server, nickname, old_code)
        device.wait_for_selector(".form-alert .error-box", timeout=SLOW_MS)
        assert not device.locator("input[name=new-password]").count()

        # The new code recovers the same keys.
        start_recovery(device, live_server, nickname, new_code)
        device.wait_for_selector("input[name=new-password]", timeout=SLOW_MS)
        new_password = strong_password()
        device.fill("input[name=new-password]", new_password)
        device.fill("input[name=new-password-repeat]", new_password)
        device.click("form button[type=submit]")
        wait_for_landing(device)
        assert shown_fingerprint(device, live_server) == original
        assert not device.errors
    finally:
        device.context.close()
