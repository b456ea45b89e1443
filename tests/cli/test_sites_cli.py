"""`jmdchat sites import|export|seed-topics` and the sites part of `jmdchat demo`, as an
administrator runs them. In-process through `server.cli.main` (what `python -m server` calls
and exits with), which keeps these tests fast."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from server.cli import main
from server.cli import sites as sites_cli
from server.cli.common import run_with_sessions
from server.cli.demo import DEMO_LOADERS
from tests.conftest import make_config


@pytest.fixture
def db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("JMDCHAT_DATABASE_URL", sqlite_url)
    return sqlite_url


def demo(db: str) -> list[str]:
    # Only the sites loader: `jmdchat demo` also runs the other areas' (slower) loaders.
    config = make_config(db)
    return run_with_sessions(config, lambda sessions: sites_cli.load_demo(config, sessions))


def test_sites_demo_loader_is_registered() -> None:
    assert sites_cli.load_demo in DEMO_LOADERS


def test_demo_then_export_and_reimport(db: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert "17 JMD sites" in demo(db)[0]
    assert "17 JMD sites" in demo(db)[0]  # idempotent

    assert main(["sites", "export"]) == 0
    exported = capsys.readouterr().out
    assert exported.startswith("slug,name,provider,")
    assert exported.count("\n") == 18
    assert "Bruchhausenstraße 16a" in exported

    target = tmp_path / "sites.json"
    assert main(["sites", "export", str(target)]) == 0
    capsys.readouterr()
    records = json.loads(target.read_text(encoding="utf-8"))
    assert len(records) == 17 and records[-1]["slug"] == "jmd-wuppertal"

    assert main(["sites", "import", str(target)]) == 0
    assert "0 site(s) were created, 0 updated, 17 unchanged" in capsys.readouterr().out


def test_import_reports_every_bad_row_and_exits_1(db: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(
        "slug,name,postcode,languages\n"
        "jmd-ok,Fine,54290,de\n"
        "jmd-bad,Bad,99999,de\n"
        "jmd-worse,,10178,klingon\n",
        encoding="utf-8",
    )
    assert main(["sites", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "3 error(s); nothing was imported" in err
    # Reasons come in the configured locale (German by default): check the structure.
    lines = err.splitlines()[1:]
    assert len(lines) == 3
    assert re.search(r"\b3\b\D+\bpostcode\b.*99999", lines[0])
    assert re.search(r"\b4\b\D+\bname\b", lines[1])
    assert re.search(r"\b4\b\D+\blanguages\b.*klingon", lines[2])

    assert main(["sites", "export", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing written


def test_dry_run_and_seed_topics(db: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.csv"
    path.write_text("slug,name,postcode\njmd-trier,JMD Trier,54290\n", encoding="utf-8")
    assert main(["sites", "import", "--dry-run", str(path)]) == 0
    assert "1 site(s) would be created" in capsys.readouterr().out
    assert main(["sites", "export"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # header only

    assert main(["sites", "seed-topics"]) == 0
    assert "topics: 11 created, 0 updated" in capsys.readouterr().out


def test_unknown_file_type_is_a_usage_error(db: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sites.xlsx"
    path.write_bytes(b"")
    assert main(["sites", "import", str(path)]) == 2
    assert "--format" in capsys.readouterr().err
