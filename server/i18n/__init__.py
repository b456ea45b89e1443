"""Internationalisation: the shipped locales, negotiation, gettext catalogs, text direction."""

from server.i18n.catalogs import Translator, get_translator, lazy_gettext
from server.i18n.locales import LOCALES, LocaleInfo, direction, locale_info
from server.i18n.negotiation import LOCALE_COOKIE, negotiate_locale

_ = lazy_gettext  # marks literals for extraction in modules that translate later

__all__ = [
    "LOCALES",
    "LOCALE_COOKIE",
    "LocaleInfo",
    "Translator",
    "direction",
    "get_translator",
    "lazy_gettext",
    "locale_info",
    "negotiate_locale",
]
