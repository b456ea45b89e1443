"""Catalogs: one extraction for Python and JavaScript, and every shipped locale complete.

A string added in code but not translated in some locale fails here, naming locale and msgid.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from server.config.models import SUPPORTED_LOCALES
from server.i18n.catalogs import client_catalog, po_path

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.fixture(scope="module")
def fresh_template(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Extract from the current code, exactly as `make i18n` does."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "locales/babel.cfg",
            "-k",
            "t",
            "-k",
            "tn:1,2",
            "-k",
            "_",
            "-o",
            str(out),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return _read(out)


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_extraction_covers_python_and_client_javascript(fresh_template: Catalog) -> None:
    ids = _ids(fresh_template)
    # Known client strings (client/src/ui/views/start.js) and server strings (pages.py).
    assert "Online counselling for young migrants" in ids
    assert "Quick exit" in ids
    client_locations = {
        loc[0] for m in fresh_template for loc in m.locations if loc[0].startswith("client/")
    }
    server_locations = {
        loc[0] for m in fresh_template for loc in m.locations if loc[0].startswith("server/")
    }
    assert any(loc.endswith("start.js") for loc in client_locations)
    assert any(loc.endswith("pages.py") for loc in server_locations)


def test_checked_in_template_is_up_to_date(fresh_template: Catalog) -> None:
    checked_in = _read(ROOT / "locales" / "messages.pot")
    missing = _ids(fresh_template) - _ids(checked_in)
    assert not missing, f"run `make i18n`; not in locales/messages.pot: {sorted(missing)[:10]}"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_string_is_translated_with_the_same_placeholders(
    locale: str, fresh_template: Catalog
) -> None:
    catalog = _read(po_path(locale), locale=locale)
    problems: list[str] = []
    by_id = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    for source in fresh_template:
        if not source.id:
            continue
        key = source.id if isinstance(source.id, str) else source.id[0]
        message = by_id.get(key)
        if message is None:
            problems.append(f"missing: {key!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        strings = (
            list(message.string) if isinstance(message.string, tuple | list) else [message.string]
        )
        if not all(strings):
            problems.append(f"untranslated: {key!r}")
            continue
        ids = list(source.id) if isinstance(source.id, tuple | list) else [source.id]
        wanted = set(PLACEHOLDER.findall(" ".join(ids))) - {"n"}
        for text in strings:
            got = set(PLACEHOLDER.findall(text)) - {"n"}
            if got != wanted:
                problems.append(f"placeholders {sorted(got)} != {sorted(wanted)} in {key!r}")
    assert not problems, f"{locale}: {len(problems)} problem(s): " + "; ".join(problems[:15])


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_plural_forms_match_the_language(locale: str) -> None:
    catalog = _read(po_path(locale), locale=locale)
    expected = {"ar": 6, "ru": 3, "uk": 3}.get(locale, 2)
    assert catalog.num_plurals == expected


def test_client_catalog_holds_only_client_strings() -> None:
    messages = client_catalog("de")["messages"]
    assert isinstance(messages, dict)
    # "Quick exit" is rendered by the server (pages.py) and is not needed by the client.
    assert "Quick exit" not in messages
