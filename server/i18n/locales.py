"""The UI locales jmdchat ships, with names in themselves and direction from Babel's CLDR data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from babel import Locale

from server.config.models import SUPPORTED_LOCALES

# Babel has no `prs` (Dari); CLDR's fa_AF is Dari as written in Afghanistan.
# Kurmanji is `ku` (Latin script); Babel's `ku` data is Kurmanji.
_NATIVE_NAME_OVERRIDES = {"fa_AF": "دری", "ku": "Kurmancî"}


@dataclass(frozen=True)
class LocaleInfo:
    code: str  # our code, e.g. "fa_AF"
    tag: str  # BCP 47 for HTML lang, e.g. "fa-AF"
    native_name: str
    dir: str  # "ltr" | "rtl"


@cache
def locale_info(code: str) -> LocaleInfo:
    babel_locale = Locale.parse(code)
    name = _NATIVE_NAME_OVERRIDES.get(code) or (babel_locale.get_display_name(babel_locale) or code)
    # Capitalise the first letter where the script has case (Русский, Türkçe, Français).
    name = name[:1].upper() + name[1:]
    direction = "rtl" if babel_locale.character_order == "right-to-left" else "ltr"
    return LocaleInfo(code=code, tag=code.replace("_", "-"), native_name=name, dir=direction)


def direction(code: str) -> str:
    return locale_info(code).dir


LOCALES: tuple[str, ...] = SUPPORTED_LOCALES
