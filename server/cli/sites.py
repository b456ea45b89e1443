"""`jmdchat sites import|export|seed-topics`, and the sites demo loader for `jmdchat demo`.

Output is for the administrators running the command, in the configured default locale.
Exit codes: 0 done, 1 the file has errors (nothing was written), 2 usage problems.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.cli.common import config_from, run_with_sessions
from server.config import AppConfig
from server.i18n import get_translator
from server.services import sites as service
from server.services.clock import SystemClock
from server.services.site_import import Format, detect_format, export_sites
from server.storage.db import Sessions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sites", help="the JMD site directory: import, export, topics")
    actions = parser.add_subparsers(dest="sites_command", required=True)

    imp = actions.add_parser(
        "import", help="create or update sites from a CSV or JSON file (keyed by slug; "
        "all or nothing)",
    )
    imp.add_argument("file", help="a .csv or .json file, or - for standard input")
    imp.add_argument("--format", choices=["csv", "json"], default=None,
                     help="file format (default: from the file name)")
    imp.add_argument("--deactivate-missing", action="store_true",
                     help="deactivate active sites that are not in the file")
    imp.add_argument("--dry-run", action="store_true",
                     help="check the file and show what would change, write nothing")
    imp.set_defaults(func=run_import)

    exp = actions.add_parser("export", help="write every site as CSV or JSON")
    exp.add_argument("file", nargs="?", default="-", help="output file (default: standard output)")
    exp.add_argument("--format", choices=["csv", "json"], default=None,
                     help="file format (default: from the file name, else csv)")
    exp.set_defaults(func=run_export)

    seed = actions.add_parser("seed-topics", help="create or update the built-in topics")
    seed.set_defaults(func=run_seed_topics)


def _format(args: argparse.Namespace, default: Format | None) -> Format | None:
    if args.format:
        fmt: Format = args.format
        return fmt
    return detect_format(args.file) or default


def run_import(args: argparse.Namespace) -> int:
    config = config_from(args)
    fmt = _format(args, None)
    if fmt is None:
        print("jmdchat sites import: use a .csv or .json file name, or --format",
              file=sys.stderr)
        return 2
    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    report = run_with_sessions(config, lambda sessions: service.import_sites_file(
        sessions, SystemClock(), data, fmt, deactivate_missing=args.deactivate_missing,
        dry_run=args.dry_run,
    ))
    translator = get_translator(config.i18n.default_locale)
    if not report.ok:
        print(f"{args.file}: {len(report.errors)} error(s); nothing was imported.",
              file=sys.stderr)
        for error in report.errors:
            print(f"  {error.render(translator)}", file=sys.stderr)
        return 1
    verb = "would be" if report.dry_run else "were"
    print(
        f"{len(report.created)} site(s) {verb} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.deactivated)} deactivated."
    )
    for label, slugs in (("created", report.created), ("updated", report.updated),
                         ("deactivated", report.deactivated)):
        if slugs:
            print(f"  {label}: {', '.join(slugs)}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    config = config_from(args)
    fmt = _format(args, "csv")
    assert fmt is not None
    text = run_with_sessions(config, lambda sessions: export_sites(sessions, fmt))
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"wrote {args.file}", file=sys.stderr)
    return 0


def run_seed_topics(args: argparse.Namespace) -> int:
    config = config_from(args)
    created, updated = run_with_sessions(config, service.seed_topics)
    print(f"topics: {created} created, {updated} updated")
    return 0


async def load_demo(config: AppConfig, sessions: Sessions) -> list[str]:
    """Demo loader: the 16 JMD im Quartier model sites and the online team."""
    report = await service.load_demo_sites(sessions, SystemClock())
    if not report.ok:  # the shipped file is tested; this guards against local edits
        translator = get_translator(config.i18n.default_locale)
        raise RuntimeError("demo sites: " + "; ".join(e.render(translator) for e in report.errors))
    total = len(report.created) + len(report.updated) + len(report.unchanged)
    return [f"Sites: {total} JMD sites (16 JMD im Quartier model sites and the online team); "
            f"the site finder is at {config.server.public_url}/#/sites"]
