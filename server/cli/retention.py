"""`jmdchat retention run [--dry-run]`: apply the retention rules now (docs/privacy.md).

The server runs the same rules every `retention.run_every_minutes` (worker 0); this command is
for operators: to see what is due (`--dry-run` counts, deletes nothing) or to clean up at once,
e.g. after lowering a limit. Safe next to a running server. Prints counts per rule only.
"""

from __future__ import annotations

import argparse

from server.cli.common import config_from, run_with_sessions
from server.logging import configure_logging
from server.services.clock import SystemClock
from server.services.retention import RetentionSummary, run_retention


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("retention", help="delete data whose retention period is over")
    actions = parser.add_subparsers(dest="retention_command", required=True)
    run_parser = actions.add_parser("run", help="apply every retention rule once, now")
    run_parser.add_argument(
        "--dry-run", action="store_true", help="only count what would be deleted"
    )
    run_parser.set_defaults(func=run)


def format_summary(summary: RetentionSummary) -> list[str]:
    verb = "would delete" if summary.dry_run else "deleted"
    lines = [f"{name}: {verb} {count}" for name, count in summary.deleted.items()]
    lines += [f"  with {count} {name}" for name, count in sorted(summary.related.items())
              if count]
    lines.append(f"total: {verb} {summary.total}")
    return lines


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    configure_logging(config.server.log_level, config.server.log_format)
    summary = run_with_sessions(
        config,
        lambda sessions: run_retention(sessions, config, SystemClock(), dry_run=args.dry_run),
    )
    for line in format_summary(summary):
        print(line)
    return 0
