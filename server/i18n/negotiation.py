"""Locale negotiation: explicit choice (cookie) > Accept-Language > configured default."""

from __future__ import annotations

from collections.abc import Sequence

from babel import Locale, UnknownLocaleError
from babel import negotiate_locale as babel_negotiate

LOCALE_COOKIE = "jmdchat_locale"


def _normalise(tag: str) -> str | None:
    tag = tag.strip()
    if not tag or tag == "*":
        return None
    if tag.lower().startswith("prs"):
        # Dari has no CLDR locale of its own; fa_AF is Dari as written in Afghanistan.
        return "fa_AF"
    try:
        parsed = Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    return str(parsed)


def _accept_language(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        lang, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0 and (norm := _normalise(lang)):
            weighted.append((-quality, position, norm))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate_locale(
    cookie: str | None, accept_language: str | None, available: Sequence[str], default: str
) -> str:
    if cookie and cookie in available:
        return cookie
    if accept_language:
        preferred = _accept_language(accept_language)
        match = babel_negotiate(preferred, list(available), sep="_")
        if match:
            return match
        for wanted in preferred:
            base = wanted.split("_")[0]
            if base in available:
                return base
    return default
