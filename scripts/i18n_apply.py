"""Write translations from a JSON file into one locale's catalog.

    .venv/bin/python scripts/i18n_apply.py ar /tmp/ar-done.json

The JSON maps msgid → translation (a string), or → a list of plural forms for plural entries.
Unknown msgids are reported and skipped; applied entries lose their fuzzy flag. Placeholders
({name}) must match the msgid's; mismatches are reported and not applied.
"""

from __future__ import annotations

import json
import re
import sys

from babel.messages.pofile import read_po, write_po

from server.i18n.catalogs import po_path

PLACEHOLDER = re.compile(r"\{(\w*)\}")


def main(locale: str, source: str) -> int:
    with open(source, encoding="utf-8") as handle:
        done: dict[str, str | list[str]] = json.load(handle)
    path = po_path(locale)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    applied = 0
    problems: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        plural = isinstance(message.id, tuple | list)
        key = message.id[0] if plural else message.id
        if key not in done:
            continue
        value = done.pop(key)
        wanted = set(PLACEHOLDER.findall(" ".join(message.id) if plural else key)) - {"n"}
        forms = value if isinstance(value, list) else [value]
        if plural and len(forms) != catalog.num_plurals:
            problems.append(f"{key!r}: needs {catalog.num_plurals} plural forms")
            continue
        if any(set(PLACEHOLDER.findall(f)) - {"n"} != wanted for f in forms):
            problems.append(f"{key!r}: placeholders must be {sorted(wanted)}")
            continue
        message.string = tuple(forms) if plural else forms[0]
        message.flags.discard("fuzzy")
        applied += 1
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100)
    for key in done:
        problems.append(f"not in catalog: {key!r}")
    print(f"{locale}: applied {applied}", file=sys.stderr)
    for problem in problems:
        print("  " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
