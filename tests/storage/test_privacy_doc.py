"""docs/privacy.md stays true: every table of `Base.metadata` has a section "### `table`" whose
table rows describe exactly its columns ("| `column` | why | who can read it | how long |").
A new column without a word on why it is stored, who reads it and how long it is kept fails
here; so does a description of a column that no longer exists."""

from __future__ import annotations

import re
from pathlib import Path

from server.storage.models import Base

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"
SECTION = re.compile(r"^### `(\w+)`\s*$")
ROW = re.compile(r"^\| `(\w+)` \|(.*)\|\s*$")


def documented() -> dict[str, dict[str, list[str]]]:
    """table -> column -> the row's other cells (why, who, how long)."""
    tables: dict[str, dict[str, list[str]]] = {}
    current: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = SECTION.match(line)
        if heading:
            current = heading.group(1)
            tables.setdefault(current, {})
            continue
        if line.startswith("#"):
            current = None  # another heading ends the table's section
            continue
        row = ROW.match(line)
        if row and current is not None:
            cells = [cell.strip() for cell in row.group(2).split(" | ")]
            tables[current][row.group(1)] = cells
    return tables


def test_every_column_is_documented_and_nothing_else() -> None:
    doc = documented()
    actual = {t.name: [c.name for c in t.columns] for t in Base.metadata.sorted_tables}
    missing = [f"{table}.{column}" for table, columns in actual.items()
               for column in columns if column not in doc.get(table, {})]
    stale = [f"{table}.{column}" for table, columns in doc.items()
             for column in columns if column not in actual.get(table, [])]
    assert not missing, f"describe these columns in docs/privacy.md: {missing}"
    assert not stale, f"docs/privacy.md describes columns that do not exist: {stale}"
    assert set(doc) == set(actual), set(doc) ^ set(actual)


def test_each_row_says_why_who_and_how_long() -> None:
    for table, columns in documented().items():
        for column, cells in columns.items():
            assert len(cells) == 3 and all(cells), (
                f"{table}.{column}: expected 'what and why | who can read it | how long'"
            )
