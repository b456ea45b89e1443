"""The commands docs/operations.md names for upgrades exist and work: `jmdchat db current`,
`db downgrade`, `db upgrade`, `db check` (SQLite; the migrations themselves are tested on
both databases in tests/storage/test_migrations.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def jmdchat(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args], cwd=ROOT,
        env={**os.environ, "JMDCHAT_DATABASE_URL": url}, capture_output=True, text=True,
        timeout=120, check=False,
    )


def test_upgrade_current_downgrade_and_check(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    assert jmdchat(url, "db", "upgrade").returncode == 0
    at_head = jmdchat(url, "db", "current")
    assert at_head.returncode == 0 and "(head)" in at_head.stdout + at_head.stderr
    back = jmdchat(url, "db", "downgrade", "-1")
    assert back.returncode == 0, back.stderr
    behind = jmdchat(url, "db", "current")
    assert "(head)" not in behind.stdout + behind.stderr
    assert jmdchat(url, "db", "upgrade").returncode == 0
    checked = jmdchat(url, "db", "check")
    assert checked.returncode == 0, checked.stderr
    assert "operations.md" in (ROOT / "README.md").read_text(encoding="utf-8")
