"""`jmdchat demo`: load demo data (sites, topics, accounts) and print how to log in.

Each area contributes a loader to `DEMO_LOADERS`; loaders are idempotent.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from server.cli import sites
from server.cli.common import config_from, run_with_sessions
from server.config import AppConfig
from server.services import demo_accounts, rounds
from server.storage.db import Sessions

DemoLoader = Callable[[AppConfig, Sessions], Awaitable[list[str]]]
DEMO_LOADERS: list[DemoLoader] = []
# Sites come first: accounts and conversations refer to them.
DEMO_LOADERS.append(sites.load_demo)
# Accounts after sites: demo counsellors work in demo sites and get their site keys.
DEMO_LOADERS.append(demo_accounts.load)
# Chat rounds (issue #9): one upcoming round per language of the online team.
DEMO_LOADERS.append(rounds.load_demo)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="load demo data and print how to log in")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)

    async def load(sessions: Sessions) -> list[str]:
        lines: list[str] = []
        for loader in DEMO_LOADERS:
            lines.extend(await loader(config, sessions))
        return lines

    for line in run_with_sessions(config, load):
        print(line)
    print(f"Open {config.server.public_url}/ in a browser.")
    return 0
