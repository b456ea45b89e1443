"""The single HTML page and the client's translation catalogs.

The page is rendered with `lang` and `dir` of the negotiated locale and the client catalog
embedded as a JSON data block, so the first paint is already in the right language and
direction (no flash), with no inline script (CSP: script-src 'self').
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from pathlib import Path

from aiohttp import web

from server.i18n import LOCALE_COOKIE, get_translator, locale_info
from server.i18n import lazy_gettext as _
from server.i18n.catalogs import client_catalog
from server.keys import CONFIG, LOCALE
from server.services.site_keys import org_public_key_b64

CLIENT_DIR = Path(__file__).resolve().parents[4] / "client"
routes = web.RouteTableDef()

# The few strings of the static frame are rendered by the server, so the quick-exit button
# is labelled in the right language from the very first paint.
ATTRIBUTE_PLACEHOLDERS = frozenset({"__T_HOME__", "__T_LANGUAGE__"})
SHELL_STRINGS = {
    "__T_SKIP__": _("Skip to content"),
    "__T_HOME__": _("jmdchat start page"),
    "__T_LANGUAGE__": _("Language"),
    "__T_QUICK_EXIT__": _("Quick exit"),
    "__T_QUICK_EXIT_HINT__": _("Leaves this page at once for a neutral website."),
    # Crisis contacts, one tap from every screen (client/src/ui/views/help.js).
    "__T_HELP_NOW__": _("Help now"),
    "__T_NOSCRIPT__": _("Please turn on JavaScript: it is needed to encrypt your messages."),
    "__T_TITLE__": _("Online counselling"),
}


@cache
def _template() -> str:
    return (CLIENT_DIR / "index.html").read_text(encoding="utf-8")


def _json_for_html(data: object) -> str:
    # `</script>` inside the data must not end the block; `<` is escaped everywhere.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def boot_data(request: web.Request) -> dict[str, object]:
    config = request.app[CONFIG]
    locale = request[LOCALE]
    return {
        "locale": locale,
        "locales": [
            {
                "code": c,
                "tag": locale_info(c).tag,
                "name": locale_info(c).native_name,
                "dir": locale_info(c).dir,
            }
            for c in config.i18n.locales
        ],
        "localeCookie": LOCALE_COOKIE,
        "quickExitUrl": config.server.quick_exit_url,
        "passwordMinLength": config.security.password_min_length,
        "orgPublicKey": org_public_key_b64(config),  # certifies counsellor/site keys
        "catalog": client_catalog(locale),
    }


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    info = locale_info(request[LOCALE])
    translator = get_translator(request[LOCALE])
    html = _template()
    for placeholder, message in SHELL_STRINGS.items():
        # Quotes need escaping only inside attributes; in <noscript> (raw text while scripting
        # is on) an entity such as &#x27; would show literally.
        in_attribute = placeholder in ATTRIBUTE_PLACEHOLDERS
        html = html.replace(placeholder, escape(translator.gettext(message), quote=in_attribute))
    html = (
        html.replace("__LANG__", info.tag)
        .replace("__DIR__", info.dir)
        .replace("__BOOT_JSON__", _json_for_html(boot_data(request)))
    )
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Vary": "Cookie, Accept-Language"},
    )


@routes.get("/i18n/{locale}.json")
async def catalog(request: web.Request) -> web.Response:
    locale = request.match_info["locale"]
    if locale not in request.app[CONFIG].i18n.locales:
        raise web.HTTPNotFound()
    return web.json_response(client_catalog(locale), headers={"Cache-Control": "no-cache"})
