"""`jmdchat bench-setup`: benchmark accounts for `bench/load.py` (development mode only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from server.cli.common import config_from, run_with_sessions
from server.services.bench_setup import (
    BENCH_LOGINS_FILE,
    BENCH_SITE_SLUG,
    BenchSetupError,
    bench_setup,
)
from server.services.clock import SystemClock
from server.storage.db import Sessions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "bench-setup",
        help="benchmark only: a bench site with certified counsellors (development mode)",
    )
    parser.add_argument("--counsellors", type=int, default=50,
                        help="how many certified counsellors the bench site has (default 50)")
    parser.add_argument("--site", default=BENCH_SITE_SLUG, help="slug of the bench site")
    parser.add_argument("--out", default=None,
                        help=f"logins file (default: <server.data_dir>/{BENCH_LOGINS_FILE})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    if not 1 <= args.counsellors <= 5000:
        print("error: --counsellors: expected 1 … 5000", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(config.server.data_dir) / BENCH_LOGINS_FILE

    async def work(sessions: Sessions) -> dict[str, Any]:
        return await bench_setup(config, sessions, SystemClock(), counsellors=args.counsellors,
                                 logins_path=out, site_slug=args.site)

    try:
        data = run_with_sessions(config, work)
    except BenchSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"bench site {data['site_slug']} ({data['site_id']}), site key "
          f"v{data['site_key_version']}, {len(data['counsellors'])} certified counsellors; "
          f"logins in {out}")
    return 0
