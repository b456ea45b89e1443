"""`jmdchat db upgrade|check`: apply migrations, or verify models and migrations agree."""

from __future__ import annotations

import argparse

from server.cli.common import config_from
from server.storage import migrate


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="database migrations")
    actions = parser.add_subparsers(dest="db_command", required=True)
    actions.add_parser("upgrade", help="migrate to the newest schema").set_defaults(func=upgrade)
    actions.add_parser("check", help="fail if models and migrations differ").set_defaults(
        func=check
    )
    # Operations (issue #9, docs/operations.md "Upgrades"): where the schema stands, and back.
    actions.add_parser("current", help="show the schema revision of the database").set_defaults(
        func=current
    )
    down = actions.add_parser("downgrade", help="migrate back to an older schema revision")
    down.add_argument("revision", help='target revision, e.g. 0008, or "-1" for one step back')
    down.set_defaults(func=downgrade)


def upgrade(args: argparse.Namespace) -> int:
    migrate.upgrade(config_from(args).database.url)
    print("database is up to date")
    return 0


def check(args: argparse.Namespace) -> int:
    migrate.check(config_from(args).database.url)
    print("models and migrations agree")
    return 0


def current(args: argparse.Namespace) -> int:
    migrate.current(config_from(args).database.url)
    return 0


def downgrade(args: argparse.Namespace) -> int:
    migrate.downgrade(config_from(args).database.url, args.revision)
    print(f"database migrated back to {args.revision}")
    return 0
