"""List the untranslated (or fuzzy) entries of one locale as JSON, for translators.

    .venv/bin/python scripts/i18n_todo.py ar > /tmp/ar-todo.json

Each item: {"id": msgid, "plural": msgid_plural or null, "forms": number of plural forms,
"where": first source locations, "note": translator comments}.
"""

from __future__ import annotations

import json
import sys

from babel.messages.pofile import read_po

from server.i18n.catalogs import po_path


def main(locale: str) -> int:
    with po_path(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    todo = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        if message.fuzzy or not all(strings):
            plural = isinstance(message.id, tuple | list)
            todo.append({
                "id": message.id[0] if plural else message.id,
                "plural": message.id[1] if plural else None,
                "forms": catalog.num_plurals if plural else 1,
                "where": [f"{path}:{line}" for path, line in message.locations[:2]],
                "note": " ".join(message.auto_comments),
            })
    json.dump(todo, sys.stdout, ensure_ascii=False, indent=1)
    print()
    print(f"{len(todo)} to translate in {locale}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
