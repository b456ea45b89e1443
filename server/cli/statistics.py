"""`jmdchat statistics export`: the statistics page's CSV for the operator (issue #9).

Every site (or one, `--site`), the same counts and the same small-number suppression as
GET /api/statistics.csv (server/services/statistics.py; docs/operations.md "Statistics").
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date
from pathlib import Path

from server.cli.common import config_from, run_with_sessions
from server.services import statistics
from server.services.clock import SystemClock
from server.services.errors import ServiceError
from server.storage.db import Sessions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("statistics", help="statistics without personal data (CSV)")
    actions = parser.add_subparsers(dest="statistics_command", required=True)
    export = actions.add_parser("export", help="write the statistics of a period as CSV")
    export.add_argument("--from", dest="start", type=date.fromisoformat, default=None,
                        help="first day (YYYY-MM-DD; its whole week counts); default: 11 weeks "
                             "before this week")
    export.add_argument("--to", dest="end", type=date.fromisoformat, default=None,
                        help="last day (YYYY-MM-DD; its whole week counts); default: today")
    export.add_argument("--site", default=None, help="one site (slug); default: every site")
    export.add_argument("--out", default="-", help="CSV file to write (default: standard output)")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    config = config_from(args)

    async def work(sessions: Sessions) -> statistics.Report:
        return await statistics.operator_statistics(
            sessions, SystemClock(), start=args.start, end=args.end, site_slug=args.site
        )

    try:
        report = run_with_sessions(config, work)
    except ServiceError as exc:
        print(f"{exc.code}: {exc.message.format(**exc.params)}", file=sys.stderr)
        return 1
    rows = statistics.csv_rows(report)
    if args.out == "-":
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
    else:
        with Path(args.out).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\r\n").writerows(rows)
        print(f"wrote {len(rows) - 1} rows to {args.out}")
    return 0
