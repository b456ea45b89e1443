"""The `jmdchat` command. Each area adds a module with `register(subparsers)`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from server.cli import accounts, bench, database, demo, retention, serve, sites
from server.cli import statistics as statistics_cli
from server.config import ConfigError

COMMAND_MODULES = [serve, database, demo, sites, accounts, bench, retention]
COMMAND_MODULES.append(statistics_cli)  # statistics export (issue #9)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jmdchat", description="jmdchat counselling chat")
    parser.add_argument(
        "--config", default=None, help="path to config.toml (default: ./config.toml if present)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return result
