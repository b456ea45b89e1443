"""Gettext catalogs compiled from `locales/` at start; one `Translator` per locale.

The .po files are the source of truth. They are compiled in memory at start (no .mo files
to forget to rebuild), and client strings are exported to JSON from the same catalogs.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
DOMAIN = "messages"
CLIENT_PATH_PREFIX = "client/"


class LazyString(str):
    """A literal marked for translation; it stays the source text until translated."""

    __slots__ = ()


def lazy_gettext(message: str) -> str:
    return LazyString(message)


@dataclass(frozen=True)
class Translator:
    locale: str
    translations: gettext.NullTranslations

    def gettext(self, message: str, **params: object) -> str:
        text = self.translations.gettext(message)
        return text.format(**params) if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text.format(n=n, **params)


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def get_translator(locale: str) -> Translator:
    path = po_path(locale)
    if not path.exists():
        return Translator(locale, gettext.NullTranslations())
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translator(locale, gettext.GNUTranslations(buffer))


@cache
def client_catalog(locale: str) -> dict[str, object]:
    """Strings used by client/ code: {"messages": {msgid: msgstr or [forms]}, "plural": expr}."""
    path = po_path(locale)
    messages: dict[str, object] = {}
    plural_expr = "n != 1"
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        plural_expr = catalog.plural_expr
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            if not any(str(loc[0]).startswith(CLIENT_PATH_PREFIX) for loc in message.locations):
                continue
            if isinstance(message.id, tuple | list):
                key = str(message.id[0])
                forms = [str(s) for s in message.string] if message.string else []
                if all(forms):
                    messages[key] = forms
            elif message.string:
                messages[str(message.id)] = str(message.string)
    return {"locale": locale, "plural": plural_expr, "messages": messages}
