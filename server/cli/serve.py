"""`jmdchat serve`: run the web server."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from server.app import create_app
from server.cli.common import config_from
from server.logging import configure_logging

log = logging.getLogger("jmdchat")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the server")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    configure_logging(config.server.log_level, config.server.log_format)
    host = args.host or config.server.host
    port = args.port or config.server.port
    log.info("starting", extra={"port": port, "mode": config.server.mode})
    web.run_app(create_app(config), host=host, port=port, access_log=None, print=None)
    return 0
