"""Helpers shared by CLI commands: config loading and running a coroutine with the database."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from server.config import AppConfig, load_config
from server.storage.db import Sessions, create_engine, create_sessions

T = TypeVar("T")


def config_from(args: argparse.Namespace) -> AppConfig:
    path = args.config
    if path is None and Path("config.toml").exists():
        path = "config.toml"
    return load_config(path)


def run_with_sessions(config: AppConfig, work: Callable[[Sessions], Awaitable[T]]) -> T:
    async def runner() -> T:
        engine = create_engine(config.database)
        try:
            return await work(create_sessions(engine))
        finally:
            await engine.dispose()

    return asyncio.run(runner())
