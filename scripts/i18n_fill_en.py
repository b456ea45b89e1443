"""The English catalog: the source strings are English, so each translation is its msgid."""

from __future__ import annotations

from babel.messages.pofile import read_po, write_po

from server.i18n.catalogs import po_path


def main() -> int:
    path = po_path("en")
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    for message in catalog:
        if message.id:
            message.string = (
                tuple(message.id) if isinstance(message.id, tuple | list) else message.id
            )
            message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
